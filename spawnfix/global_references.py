"""Globals that reach one another: one object in the child where the parent has one.

Under ``fork`` ``TABLE = {"labels": LABELS}`` leaves ``TABLE["labels"] is LABELS`` true in
every child, and so does a re-run of the script (the child builds both itself). The
parent's values are pickled one global at a time (``spawnfix.parent_values``: each is
bound at its own statement of the child's re-run, or when its module is imported), so
without this each global would bring its own copy of every other global it contains.

Here each global's pickle names the other sent globals it contains by reference (a pickle
persistent id: ``("main", name)`` or ``("module", module, attribute)``) instead of copying
them; the child resolves a reference to the value it binds for that global. A global that
does not pickle is not referred to (the value containing it carries a copy), and a cycle
of references (``a.partner = b`` and ``b.partner = a``) is pickled as one group (a tuple
of its members), since a reference must be unpickled before the value that holds it.

Cost: the persistent-id hook is a Python call per pickled object, so a global's pickle
stops looking for references after ``REFERENCE_SCAN_LIMIT`` objects (a dataset of a million
records is pickled plainly, as it was before). Objects reached only through the contents
of globals (``A["x"] is B["y"]`` where neither is a global) still arrive as two copies,
and so does a global of ``__main__`` inside a user module's value (a module gets its
values when the child imports it, before the main script's namespace may exist).
"""

from spawnfix.program_code_pickling import ProgramSafePickler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

# The objects one global's pickle visits while it looks for other globals in it.
REFERENCE_SCAN_LIMIT = 5_000

MAIN = "main"
MODULE = "module"
GROUP = "group"

_ATOMIC = (bool, int, float, complex, str, bytes, type(None))


class _TooManyObjects(Exception):
    """A value holds more objects than it is worth looking for references among."""


class _ReferencingPickler(ProgramSafePickler):
    """Pickles one global, naming the other globals it reaches by reference."""

    def __init__(
        self,
        file: "Any",
        root: "Any",
        references: "dict[int, tuple[str, ...]]",
        not_referred: "set[tuple[str, ...]]",
    ) -> None:
        super().__init__(file, protocol=-1)
        self.root = root
        self.references = references
        self.not_referred = not_referred
        self.referenced: set[tuple[str, ...]] = set()
        self.visited = 0

    def persistent_id(self, obj: "Any") -> "Any":
        """The reference for another global's object, else None (pickled as usual)."""
        self.visited += 1
        if self.visited > REFERENCE_SCAN_LIMIT:
            raise _TooManyObjects
        reference = self.references.get(id(obj))
        if reference is None or obj is self.root or reference in self.not_referred:
            return None
        self.referenced.add(reference)
        return reference


class Pickled:
    """One global's pickle and the globals it refers to."""

    __slots__ = ("data", "referenced")

    def __init__(self, data: bytes, referenced: "frozenset[tuple[str, ...]]") -> None:
        self.data = data
        self.referenced = referenced


class Grouped:
    """A global in a cycle of references: item ``index`` of the group pickle ``group``."""

    __slots__ = ("group", "index")

    def __init__(self, group: int, index: int) -> None:
        self.group = group
        self.index = index


def pickle_globals(
    values: "dict[tuple[str, ...], Any]",
    dumps: "Callable[[tuple[str, ...], Any, Optional[Any]], bytes]",
) -> "tuple[dict[tuple[str, ...], Any], dict[int, Pickled]]":
    """Pickle each value of ``values`` (reference -> object) with references to the others.

    Returns reference -> ``Pickled``, ``Grouped`` or the exception that kept it from
    being pickled, and the group pickles: the globals of a cycle of references are pickled
    together as one tuple (one pickle keeps them one object each), with references to the
    rest. ``dumps(reference, value, make_pickler)`` does the pickling (size limit,
    reducers): with the pickler ``make_pickler(file)`` makes, or plainly when that is
    None; a group's reference is ``(GROUP, number)``."""
    by_id: dict[int, tuple[str, ...]] = {}
    for reference, value in values.items():
        if not isinstance(value, _ATOMIC):  # identity of numbers and strings is no matter
            by_id.setdefault(id(value), reference)
    # A user module's values are given to it when the child imports it, maybe before the
    # main script's re-run has its namespace: they never refer to a global of __main__.
    main_globals = {reference for reference in values if reference[0] == MAIN}
    excluded: dict[tuple[str, ...], set[tuple[str, ...]]] = {
        reference: {reference} | (main_globals if reference[0] == MODULE else set())
        for reference in values
    }
    results: dict[tuple[str, ...], Any] = {}
    pending = list(values)
    # Each round pickles again only values that referred to one that failed, with that
    # one copied in instead; failures only grow, so it ends (the bound guards a mistake).
    for _ in range(len(values) + 1):
        for reference in pending:
            results[reference] = _pickle_one(
                reference, values[reference], by_id, excluded[reference], dumps
            )
        pending = _referring_to_failed(results, excluded)
        if not pending:
            break
    groups: dict[int, Pickled] = {}
    for members in _cycles(results):
        together = set().union(*(excluded[member] for member in members))
        group = (GROUP, str(len(groups)))
        grouped = _pickle_one(group, tuple(values[m] for m in members), by_id, together, dumps)
        if isinstance(grouped, Pickled):
            groups[len(groups)] = grouped
            for index, member in enumerate(members):
                results[member] = Grouped(len(groups) - 1, index)
        else:  # each member carries copies of the others, as without references
            for member in members:
                excluded[member].update(members)
                results[member] = _pickle_one(
                    member, values[member], by_id, excluded[member], dumps
                )
    return results, groups


def _pickle_one(
    reference: "tuple[str, ...]",
    value: "Any",
    references: "dict[int, tuple[str, ...]]",
    not_referred: "set[tuple[str, ...]]",
    dumps: "Callable[[tuple[str, ...], Any, Optional[Any]], bytes]",
) -> "Any":
    made: list[_ReferencingPickler] = []

    def make_pickler(file: "Any") -> "_ReferencingPickler":
        made.append(_ReferencingPickler(file, value, references, not_referred))
        return made[-1]

    try:
        if len(references) > 1 and not isinstance(value, _ATOMIC) and not _large(value):
            try:
                data = dumps(reference, value, make_pickler)
                return Pickled(data, frozenset(made[-1].referenced))
            except _TooManyObjects:
                pass
        return Pickled(dumps(reference, value, None), frozenset())
    except Exception as error:
        return error


def _large(value: "Any") -> bool:
    # A container longer than the scan limit would only be scanned to the limit and then
    # pickled again plainly: pickled plainly at once.
    return isinstance(value, _CONTAINERS) and len(value) > REFERENCE_SCAN_LIMIT


_CONTAINERS = (list, tuple, dict, set, frozenset)


def _referring_to_failed(
    results: "dict[tuple[str, ...], Any]",
    excluded: "dict[tuple[str, ...], set[tuple[str, ...]]]",
) -> "list[tuple[str, ...]]":
    failed = {reference for reference, result in results.items() if not isinstance(result, Pickled)}
    again = []
    for reference, result in results.items():
        if isinstance(result, Pickled) and result.referenced & failed:
            excluded[reference].update(result.referenced & failed)
            again.append(reference)
    return again


def _cycles(results: "dict[tuple[str, ...], Any]") -> "list[list[tuple[str, ...]]]":
    # The strongly connected components of more than one global (Tarjan's algorithm,
    # without recursion), each in a stable order.
    edges = {
        reference: sorted(result.referenced)
        for reference, result in results.items()
        if isinstance(result, Pickled)
    }
    index: dict[tuple[str, ...], int] = {}
    low: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []
    on_stack: set[tuple[str, ...]] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in edges:
                    continue
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
