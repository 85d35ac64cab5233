"""Values from the parent: a child starts with the parent's globals as they are at start().

Under ``fork`` a child is a copy of the parent: every global of ``__main__`` and of the
user's own modules has the value the parent gave it, including values from ``uuid``,
``random``, the clock, the command line or a global set by ``main()`` under the guard.
Under spawn and forkserver the child re-runs the main script and re-imports the modules,
so it computes its own values. This module sends the parent's.

Parent side (``add_to_preparation``, from ``spawnfix.mp_hooks`` for each spawn or
forkserver launch): a ``ParentValues`` goes into the preparation data. It is pickled when
the launch pickles that data (``__reduce__``), so it captures the globals at ``start()``,
in the spawning context, where multiprocessing's own objects (a ``Queue``, a ``Lock``, a
``Manager`` proxy, a ``Connection``) pickle as they do for a ``Process``'s arguments: the
child gets the parent's shared object, as under fork; reducers others registered with the
package's pickler (torch's moves a tensor into shared memory) are not used, so a tensor
arrives as a copy, as under fork. Each global is pickled on its own
(the child binds each at its own statement of the re-run):

- ``__main__``'s globals (when the child re-runs the main script), except dunder names,
  modules, and the functions and classes the script defines (the child defines its own;
  for a name defined twice it keeps the definition the parent had at ``start()``, found
  by its first line);
- the globals of the user's own modules (imported from outside the standard library and
  the site-packages directories), except modules and the module's own definitions;
- an open file is sent as "open that file again" (``spawnfix.shared_files``): for
  writing, in append mode (never truncated, and the parent's own descriptor appends from
  then on), for reading, at the same position; the parent's ``sys.stdout``/``stderr``
  become the child's;
- one object for one object: a second name for a global's object (``model = net =
  Net()``, a ``__main__`` global that is a user module's global, two names in one module)
  is sent as a second name for it, and a global inside another global's value
  (``TABLE = {"labels": LABELS}``) as a reference to it (``spawnfix.global_references``);
- what does not pickle (a lock, a socket, an object holding a thread), what is larger than
  ``SPAWNFIX_VALUE_LIMIT`` (default 16 MiB pickled: sending more to every worker can cost
  more time and memory than computing it again; pickling stops at the limit, and an object
  found too large is not tried again) and objects of ``wandb`` (a child keeps its disabled run)
  are not sent: the child computes them as it otherwise would. ``SPAWNFIX_DEBUG`` names each;
- nor is a value whose pickling would run the program's own code
  (``spawnfix.program_code_pickling``: fork runs none);
- a user module's globals go whole or not at all: one that cannot be sent (a connection
  beside the flag that says it is open) leaves the whole module to the child's own import.
  Every user module the parent imported is named, so that the child imports it without
  effects (``spawnfix.quiet_imports``).

Child side: unpickling the preparation data stores what arrived (``received``). The main
script's re-run (``spawnfix.rerun``) asks ``ChildValues.covers`` for each top-level
statement: an assignment whose names all came from the parent, or a method call on such a
name (``LABELS.extend(...)``), is not run; its names get the parent's values at once. After
the re-run every other name from the parent is bound (``bind_rest``). A user module gets
its globals right after the child imports it (a ``sys.meta_path`` finder wraps its
loader's ``exec_module``).

Limits: an object that two globals reach only through their contents (``A["x"] is
B["y"]``, neither a global itself) arrives as two copies, as does a global inside a value
of more than ``global_references.REFERENCE_SCAN_LIMIT`` objects; a value whose unpickling
fails in the child is left as the child computed it. The ``multiprocess`` and
``billiard`` forks send values the same way, with their own reducers; what only ``dill``
pickles (a lambda stored in a global) is computed by the child.
"""

import io
import os
import pickle
import sys

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

PREPARATION_KEY = "spawnfix_values"
MAIN_NAMES = ("__main__", "__mp_main__")
_NEVER_SENT_PACKAGES = ("wandb", "spawnfix", "sitecustomize", "usercustomize")

# A global reference instead of a pickle: ("module attribute", module name, attribute).
MODULE_ATTRIBUTE = "module attribute"
# Another main global bound to the same object: ("same object as", that global's name).
SAME_OBJECT_AS = "same object as"
# A global in a cycle of globals: ("in group", group number, index in the group).
GROUPED = "in group"


def _marker(value: "Any") -> "Optional[str]":
    """The kind of a value sent as a marker (MODULE_ATTRIBUTE, SAME_OBJECT_AS, GROUPED)
    rather than as a pickle, or None."""
    return value[0] if isinstance(value, tuple) and value else None


# Names already reported as not sent, so that SPAWNFIX_DEBUG says it once per process.
_reported: "set[tuple[str, str]]" = set()


def add_to_preparation(
    data: "dict[str, Any]", with_main: bool, package: str = "multiprocessing"
) -> None:
    """Parent: put a ``ParentValues`` into a child's preparation data; ``package`` is the
    multiprocessing whose launch it is (``multiprocess`` and ``billiard`` have their own
    pickler reducers and spawning context)."""
    data[PREPARATION_KEY] = ParentValues(with_main, package)


class ParentValues:
    """The parent's globals, pickled when the preparation data is (at ``start()``)."""

    __slots__ = ("package", "with_main")

    def __init__(self, with_main: bool, package: str = "multiprocessing") -> None:
        self.with_main = with_main
        self.package = package

    def __reduce__(self) -> "Any":
        try:
            payload = _snapshot(self.with_main, self.package)
        except Exception as error:  # fail open: the child computes its own values
            log_decision("parent values not sent: %r", error)
            payload = ({}, {}, {}, (), {}, {}, ())
        try:
            descriptor = _out_of_band(payload, self.package)
        except Exception as error:  # fail open: the values go in the preparation data
            log_decision("parent values sent in band: %r", error)
            descriptor = None
        if descriptor is not None:
            return (_arrive_from_descriptor, (descriptor,))
        return (_arrive_in_child, payload)


# Above this size the values travel in a memory file, not in the preparation data: the
# launch writes that data into a pipe and waits until the child has read what does not
# fit (64 KiB), so large values would make each launch wait for the child's start.
IN_BAND_LIMIT = 32 * 2**10


def _out_of_band(payload: "tuple[Any, ...]", package: str) -> "Any":
    # A memfd with the pickled values, handed to the child like a Connection's descriptor
    # (multiprocessing's DupFd): nothing on disk, freed when the last descriptor closes.
    if not hasattr(os, "memfd_create"):
        return None
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) <= IN_BAND_LIMIT:
        return None
    import importlib
    import weakref

    context = importlib.import_module(f"{package}.context")
    reduction = importlib.import_module(f"{package}.reduction")
    popen = context.get_spawning_popen()
    if popen is None or not hasattr(reduction, "DupFd"):
        return None
    descriptor = os.memfd_create("spawnfix-parent-values", os.MFD_CLOEXEC)
    try:
        with open(descriptor, "wb", closefd=False) as handle:
            handle.write(data)
        handed = reduction.DupFd(descriptor)
    except BaseException:
        os.close(descriptor)
        raise
    weakref.finalize(popen, os.close, descriptor)  # after the launch has passed it on
    return handed


def _arrive_from_descriptor(handed: "Any") -> None:
    """Unpickling hook for values sent in a memory file (``_out_of_band``)."""
    descriptor = handed.detach()
    with open(descriptor, "rb") as handle:
        handle.seek(0)
        payload = pickle.loads(handle.read())
    _arrive_in_child(*payload)


def _snapshot(with_main: bool, package: str) -> "tuple[Any, ...]":
    import importlib

    from spawnfix import config
    from spawnfix.shared_files import distinct_descriptors

    restore = distinct_descriptors(package)
    registered = importlib.import_module(f"{package}.reduction").ForkingPickler._extra_reducers
    reducers = _own_reducers(registered, package)
    try:
        return _snapshot_values(with_main, config.current().value_limit, reducers)
    finally:
        restore()


def _own_reducers(registered: "dict[type, Any]", package: str) -> "dict[type, Any]":
    # The package's own reducers (a Connection, a socket, a method): what a child must get
    # as the parent's. Others registered for passing arguments share instead of copying:
    # torch's would move a tensor global into shared memory, so a child's in-place change
    # reached the parent, where fork gives each child its own copy.
    return {
        kind: reduce
        for kind, reduce in registered.items()
        if getattr(reduce, "__module__", "").partition(".")[0] == package
    }


def _snapshot_values(with_main: bool, limit: int, reducers: "dict[type, Any]") -> "tuple[Any, ...]":
    # (main values, where main's functions were defined, user modules' values, main
    # values that hold a descriptor, main value -> the main globals its pickle refers to,
    # group number -> the pickle of a cycle of globals)
    from spawnfix.global_references import MAIN, MODULE

    # Reference -> object of every global that may be sent; a second name for an object
    # already listed becomes a marker naming the first (one object in the child too).
    values: dict[tuple[str, ...], Any] = {}
    first_reference: dict[int, tuple[str, ...]] = {}
    module_markers: dict[str, dict[str, Any]] = {}
    # User modules with a global that cannot be sent: none of their globals are sent.
    incomplete: set[str] = set()
    from spawnfix.user_modules import users_own_modules

    for name, module in users_own_modules(_NEVER_SENT_PACKAGES).items():
        module_markers[name] = {}
        for attribute, value in _candidates(dict(vars(module)), name).items():
            first = None if _is_atomic(value) else first_reference.get(id(value))
            if first is not None:
                module_markers[name][attribute] = (MODULE_ATTRIBUTE, *first[1:])
            elif (name, attribute, id(value)) in _not_sendable:
                incomplete.add(name)
            else:
                values[(MODULE, name, attribute)] = value
                first_reference.setdefault(id(value), (MODULE, name, attribute))
    main_markers: dict[str, Any] = {}
    definitions: dict[str, int] = {}
    main_module = sys.modules.get("__main__")
    if with_main and main_module is not None:
        namespace = dict(vars(main_module))
        for name, value in _candidates(namespace, main_module.__name__).items():
            first = None if _is_atomic(value) else first_reference.get(id(value))
            if first is not None and first[0] == MODULE:
                main_markers[name] = (MODULE_ATTRIBUTE, *first[1:])
            elif first is not None:
                # `model = net = Net()`: one object in the child too, as under fork.
                main_markers[name] = (SAME_OBJECT_AS, first[1])
            elif ("__main__", name, id(value)) not in _not_sendable:
                values[(MAIN, name)] = value
                first_reference.setdefault(id(value), (MAIN, name))
        definitions = _main_definitions(namespace, main_module.__name__)
    pickled, groups = _pickle_all(values, limit, reducers)
    incomplete.update(r[1] for r in values if r[0] == MODULE and r not in pickled)
    for name in incomplete - _reported_incomplete:
        _reported_incomplete.add(name)
        log_decision(
            "values of %s not sent: one of its globals cannot be; a child's own import "
            "gives the module whole",
            name,
        )
    pickled = {
        reference: result
        for reference, result in pickled.items()
        if reference[0] != MODULE or reference[1] not in incomplete
    }
    main_values: dict[str, Any] = {}
    module_values: dict[str, dict[str, Any]] = {}
    references: dict[str, tuple[str, ...]] = {}
    holding = []
    module_holding = []
    for reference, (data, holds_descriptor, referenced) in pickled.items():
        if reference[0] == MAIN:
            main_values[reference[1]] = data
            if holds_descriptor:
                holding.append(reference[1])
            contained = tuple(r[1] for r in referenced if r[0] == MAIN and r != reference)
            if contained:
                references[reference[1]] = contained
        else:
            module_values.setdefault(reference[1], {})[reference[2]] = data
            if holds_descriptor:
                module_holding.append((reference[1], reference[2]))
    sent = {(MAIN, name) for name in main_values}
    sent.update((MODULE, m, a) for m, names in module_values.items() for a in names)
    for name, marker in main_markers.items():
        target = (MAIN, marker[1]) if marker[0] == SAME_OBJECT_AS else (MODULE, *marker[1:])
        if target in sent:
            main_values[name] = marker
    for module_name, markers in module_markers.items():
        for attribute, marker in markers.items():
            if module_name not in incomplete and (MODULE, *marker[1:]) in sent:
                module_values.setdefault(module_name, {})[attribute] = marker
        # Named even without values: the child imports it without effects (quiet_imports).
        module_values.setdefault(module_name, {})
    return (
        main_values,
        definitions,
        module_values,
        tuple(holding),
        references,
        groups,
        tuple(module_holding),
    )


def _pickle_all(
    values: "dict[tuple[str, ...], Any]", limit: int, reducers: "dict[type, Any]"
) -> "tuple[dict[tuple[str, ...], tuple[Any, bool, frozenset[Any]]], dict[int, bytes]]":
    # Reference -> (pickle or group marker, holds a descriptor, globals it refers to) of
    # each value that pickles, and the group pickles; each value that does not pickle is
    # reported and not tried again at later starts.
    from spawnfix.global_references import GROUP, MAIN, Grouped, Pickled, pickle_globals
    from spawnfix.program_code_pickling import RunsProgramCode

    holding: set[tuple[str, ...]] = set()

    def dumps(reference: "tuple[str, ...]", value: "Any", make_pickler: "Any") -> bytes:
        kept = _kept_pickles.get(reference)
        if kept is not None and kept[0] is value:
            return kept[1]
        data, holds_descriptor = _dumps(value, limit, reducers, make_pickler)
        if type(value) in (bytes, str) and len(data) >= _KEPT_PICKLE_SIZE:
            _kept_pickles[reference] = (value, data)
        if _NESTED_WANDB in data:
            raise _HoldsWandb
        if holds_descriptor:
            holding.add(reference)
        return data

    results, groups = pickle_globals(values, dumps)
    members: dict[int, set[tuple[str, ...]]] = {}
    for reference, result in results.items():
        if isinstance(result, Grouped):
            members.setdefault(result.group, set()).add(reference)
    pickled: dict[tuple[str, ...], tuple[Any, bool, frozenset[Any]]] = {}
    for reference, result in results.items():
        owner = "__main__" if reference[0] == MAIN else reference[1]
        name = reference[-1]
        if isinstance(result, Pickled):
            pickled[reference] = (result.data, reference in holding, result.referenced)
            continue
        if isinstance(result, Grouped):
            group = groups[result.group]
            pickled[reference] = (
                (GROUPED, result.group, result.index),
                (GROUP, str(result.group)) in holding,
                group.referenced | members[result.group],  # its group's members too
            )
            continue
        _not_sendable.add((owner, name, id(values[reference])))
        if isinstance(result, _TooLarge):
            why = f"its pickle is larger than SPAWNFIX_VALUE_LIMIT ({limit} bytes)"
        elif isinstance(result, RunsProgramCode):
            why = str(result)
        elif isinstance(result, _HoldsWandb):
            # A wandb run inside a value (a Lightning Trainer's logger): a child keeps
            # its disabled run, so the value is not sent.
            why = "it holds wandb objects"
        else:
            why = f"it does not pickle ({type(result).__name__}: {result})"
        _report(owner, name, why)
    return pickled, {number: group.data for number, group in groups.items()}


# The pickles of large ``bytes`` and ``str`` globals by reference, with the object
# pickled: such an object never changes, so while the global is bound to it every later
# start (a Pool's replacement workers) sends the same pickle without pickling again.
_kept_pickles: "dict[tuple[str, ...], tuple[Any, bytes]]" = {}
_KEPT_PICKLE_SIZE = 64 * 2**10


class _HoldsWandb(Exception):
    """A value's pickle names a class of the wandb package."""


def _candidates(namespace: "dict[str, Any]", module_name: str) -> "dict[str, Any]":
    import types

    chosen = {}
    for name, value in namespace.items():
        if name.startswith("__") and name.endswith("__"):
            continue
        if isinstance(value, types.ModuleType) or _defined_in(value, module_name):
            continue
        package = type(value).__module__.partition(".")[0]
        if package in _NEVER_SENT_PACKAGES:
            continue
        chosen[name] = value
    return chosen


def _defined_in(value: "Any", module_name: str) -> bool:
    import types

    if not isinstance(value, (type, types.FunctionType)):
        return False
    owner = getattr(value, "__module__", None)
    return owner == module_name or (module_name in MAIN_NAMES and owner in MAIN_NAMES)


def _is_atomic(value: "Any") -> bool:
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes))


def _main_definitions(namespace: "dict[str, Any]", module_name: str) -> "dict[str, int]":
    # Where each function of the script that the parent has under its own name was
    # defined: a child that defines the name twice binds the same definition.
    found = {}
    for name, value in namespace.items():
        code = getattr(value, "__code__", None)
        if code is not None and _defined_in(value, module_name) and value.__name__ == name:
            found[name] = code.co_firstlineno
        elif isinstance(value, type) and _defined_in(value, module_name):
            line = getattr(value, "__firstlineno__", None)  # classes, Python 3.13+
            if isinstance(line, int) and value.__name__ == name:
                found[name] = line
    return found


# How a pickle names a class of the wandb package (``wandb.sdk...``): cheap to look for,
# and a false match only keeps a value from being sent.
_NESTED_WANDB = b"wandb"

# (owner, name, id(value)) of values that did not pickle or were too large.
_not_sendable: "set[tuple[str, str, int]]" = set()
# User modules whose values were found not sendable whole (reported once).
_reported_incomplete: "set[str]" = set()


class _TooLarge(Exception):
    """A value's pickle went over the size limit (pickling stops there)."""


class _LimitedBuffer(io.BytesIO):
    """A pickle's output that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: "Any") -> int:
        """Append ``data``, or raise ``_TooLarge`` when the pickle would exceed the limit."""
        # Protocol 5 writes a large buffer (a numpy array's) as a PickleBuffer: no len().
        if self.tell() + memoryview(data).nbytes > self.limit:
            raise _TooLarge
        return super().write(data)


def _report(owner: str, name: str, why: str) -> None:
    if (owner, name) not in _reported:
        _reported.add((owner, name))
        log_decision("%s.%s is not sent to children, %s: they compute it", owner, name, why)


def _dumps(
    value: "Any", limit: int, reducers: "dict[type, Any]", make_pickler: "Any" = None
) -> "tuple[bytes, bool]":
    # The pickle, and whether it holds something that owns a descriptor in the child (an
    # open file, a connection, a socket): such a value is unpickled once, never afresh.
    import copyreg
    from collections import ChainMap

    from spawnfix import shared_files

    holds_descriptor = []

    def noting(reduce: "Any") -> "Any":
        def reduce_noting(obj: "Any") -> "Any":
            holds_descriptor.append(type(obj).__name__)
            return reduce(obj)

        return reduce_noting

    # The launching package's reducers (its Connection, socket, DupFd...).
    own = {kind: noting(reduce) for kind, reduce in reducers.items()}
    own.update(dict.fromkeys(shared_files.FILE_TYPES, noting(shared_files.reduce_open_file)))
    own.update(shared_files.extra_file_reducers())
    buffer = _LimitedBuffer(limit)
    if make_pickler is None:
        from spawnfix.program_code_pickling import ProgramSafePickler

        pickler = ProgramSafePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        pickler = make_pickler(buffer)
    pickler.dispatch_table = ChainMap(own, copyreg.dispatch_table)
    if "numpy" in sys.modules:  # large arrays through shared memory
        from spawnfix import parent_shared_buffers

        parent_shared_buffers.add_reducer(pickler, pickle.HIGHEST_PROTOCOL, fork_values=True)
    pickler.dump(value)
    return buffer.getvalue(), bool(holds_descriptor)


# -- child side -------------------------------------------------------------------------

_received: "Optional[ChildValues]" = None


def _arrive_in_child(
    main_values: "dict[str, Any]",
    definitions: "dict[str, int]",
    module_values: "dict[str, dict[str, Any]]",
    holding: "tuple[str, ...]" = (),
    references: "Optional[dict[str, tuple[str, ...]]]" = None,
    groups: "Optional[dict[int, bytes]]" = None,
    module_holding: "tuple[tuple[str, str], ...]" = (),
) -> None:
    """Unpickling hook: runs in the child while the preparation data is loaded."""
    global _received
    from spawnfix import child_exit

    child_exit.end_like_a_fork_child()
    _received = ChildValues(main_values, definitions, frozenset(holding), references or {})
    _groups_pending.update(groups or {})
    _module_pending.update(module_values)
    _module_sent.update(module_values)
    _module_holding.update(module_holding)
    waiting = set()
    for name in module_values:
        if name in sys.modules:  # already imported here: a fork server that preloaded it
            _apply_module_values(sys.modules[name])
        else:
            waiting.add(name)
    if waiting:
        sys.meta_path.insert(0, _ModuleValuesFinder(waiting))
    log_decision(
        "child received %d values of __main__ and values of %d modules",
        len(main_values),
        len(module_values),
    )


def received() -> "Optional[ChildValues]":
    """Child: the ``__main__`` values the parent sent, or None (none were sent)."""
    return _received


class ChildValues:
    """Child: the parent's ``__main__`` values, bound while and after the main re-runs."""

    def __init__(
        self,
        values: "dict[str, Any]",
        definitions: "dict[str, int]",
        holding: "frozenset[str]" = frozenset(),
        references: "Optional[dict[str, tuple[str, ...]]]" = None,
    ) -> None:
        self.values = values
        self.definitions = definitions
        # Values that own a descriptor (a file, a connection): never unpickled twice.
        self.holding = holding
        # Name -> the other main globals its value contains (spawnfix.global_references).
        self.references = references or {}
        self.loading: set[str] = set()
        self.bound: set[str] = set()
        self.mentioned_after_binding: set[str] = set()
        self.defined: dict[tuple[str, int], Any] = {}

    def covers(self, node: "Any") -> "Optional[list[str]]":
        """The names ``node`` binds when all it does is bind or change names whose values
        came from the parent (so the child need not run it), else None."""
        import _ast

        if isinstance(node, _ast.Expr):
            call = node.value
            if isinstance(call, _ast.Call) and isinstance(call.func, _ast.Attribute):
                return [] if _root_name(call.func) in self.values else None
            return None
        if isinstance(node, _ast.Assign):
            targets = node.targets
        elif isinstance(node, _ast.AugAssign) or (
            isinstance(node, _ast.AnnAssign) and node.value is not None
        ):
            targets = [node.target]
        elif isinstance(node, (_ast.For, _ast.While, _ast.If, _ast.With, _ast.Try)):
            return self._compound_covered(node)
        else:
            return None
        names: list[str] = []
        for target in targets:
            if not self._collect_targets(target, names):
                return None
        return names

    def _compound_covered(self, node: "Any") -> "Optional[list[str]]":
        # A loop, ``if``, ``with`` or ``try`` that only computes names the parent sends
        # (``for x in range(N): total += x * x``): every name it binds and every object it
        # changes is the parent's, and it calls only pure builtins and methods of those
        # objects. Anything else (a definition, an import, another call) runs it.
        import _ast

        from spawnfix.main_script import walk

        blockers = _compound_blockers()
        nodes = list(walk(node))
        in_comprehensions = {
            id(name)
            for found in nodes
            if isinstance(found, _ast.comprehension)
            for name in walk(found.target)
        }
        names: list[str] = []
        for found in nodes:
            if isinstance(found, blockers):
                return None
            binds = isinstance(found, _ast.Name) and isinstance(found.ctx, _ast.Store)
            if binds and id(found) not in in_comprehensions and found.id not in names:
                names.append(found.id)
        if not names or any(name not in self.values for name in names):
            return None
        for found in nodes:
            if isinstance(found, _ast.Call) and isinstance(found.func, _ast.Name):
                if found.func.id not in _PURE_BUILTINS or found.func.id in self.values:
                    return None
            elif isinstance(found, _ast.Call):
                # A method of a value the parent sends (``squares.append``), nothing else.
                if _root_name(found.func) not in self.values:
                    return None
            elif isinstance(found, (_ast.Attribute, _ast.Subscript)) and not isinstance(
                found.ctx, _ast.Load
            ):
                changed = _root_name(found.value)
                if changed is not None and changed not in self.values:
                    return None
        return names

    def _collect_targets(self, target: "Any", names: "list[str]") -> bool:
        import _ast

        if isinstance(target, _ast.Name):
            names.append(target.id)
            return target.id in self.values
        if isinstance(target, (_ast.Tuple, _ast.List)):
            return all(self._collect_targets(item, names) for item in target.elts)
        if isinstance(target, _ast.Starred):
            return self._collect_targets(target.value, names)
        if isinstance(target, (_ast.Attribute, _ast.Subscript)):
            return _root_name(target.value) in self.values
        return False

    def bind_now(self, names: "list[str]", namespace: "dict[str, Any]") -> bool:
        """Bind ``names`` to the parent's values; False (nothing bound) if one fails."""
        unpickled = {}
        for name in names:
            if name in self.bound:
                unpickled[name] = namespace.get(name)
                continue
            try:
                unpickled[name] = self._load(name, namespace)
            except Exception as error:
                log_decision("value of %s not usable yet (%r): running its statement", name, error)
                return False
        _keep_replaced(namespace, unpickled)
        namespace.update(unpickled)
        self.bound.update(names)
        return True

    def note_run(self, node: "Any", namespace: "dict[str, Any]") -> None:
        """After the child ran ``node``: remember definitions and the parent's names it
        used (their values may have changed, so they are bound afresh at the end)."""
        import _ast

        from spawnfix.main_script import guard_kind, walk

        if isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)):
            # co_firstlineno and __firstlineno__ both count the decorators
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            self.defined[(node.name, first)] = namespace.get(node.name)
            return
        if guard_kind(node) is not None:
            return  # a guarded block does not run in a child
        called: list[Any] = []
        for inner in walk(node):
            if isinstance(inner, _ast.Call) and isinstance(inner.func, _ast.Attribute):
                called.append(_resolved(inner.func, namespace))  # plugins.register(...)
            if not isinstance(inner, _ast.Name):
                continue
            if inner.id in self.bound:
                self.mentioned_after_binding.add(inner.id)
            else:
                called.append(namespace.get(inner.id))
        # A function of the script the statement calls (``add_task(2, 3)``) may change
        # the parent's values it uses: they are bound afresh too; so are a user module's
        # that a function of that module changes (``plugins.register("a")``).
        self.mentioned_after_binding.update(_globals_used(called, namespace) & self.bound)
        _note_module_globals_used(called, namespace)

    def bind_rest(self, namespace: "dict[str, Any]") -> None:
        """After the re-run: the definitions the parent has, then every value from the
        parent not bound yet or used by a statement the child ran since (bound afresh,
        with every value that contains it, so that they stay one object)."""
        for name, line in self.definitions.items():
            definition = self.defined.get((name, line))
            if definition is not None and namespace.get(name) is not definition:
                namespace[name] = definition
                log_decision("%s is the definition at line %d, as in the parent", name, line)
        refreshed = _refresh_module_globals()
        for name in self.bound:
            value = self.values[name]
            if _marker(value) == MODULE_ATTRIBUTE and (value[1], value[2]) in refreshed:
                self.mentioned_after_binding.add(name)  # one object with the module's
        stale = self._stale()
        for name in stale:
            value = self.values[name]
            if _marker(value) == GROUPED:
                _groups_loaded.pop(value[1], None)  # loaded afresh with its members
        self.bound -= stale
        for name in self.values:
            if name in self.bound and self._alias_target(name) is None:
                continue
            try:
                value = self._load(name, namespace)
            except Exception as error:
                log_decision("value of %s from the parent not usable: %r", name, error)
                continue
            _keep_replaced(namespace, {name: value})
            namespace[name] = value
            self.bound.add(name)

    def _stale(self) -> "set[str]":
        # Values a statement the child ran may have changed, and the values holding them.
        stale = (self.bound & self.mentioned_after_binding) - self.holding
        grown = True
        while grown:
            holders = {
                name
                for name, contained in self.references.items()
                if name in self.bound and name not in self.holding and stale.intersection(contained)
            }
            grown = not holders <= stale
            stale |= holders
        return stale

    def _alias_target(self, name: str) -> "Optional[str]":
        value = self.values[name]
        return value[1] if _marker(value) == SAME_OBJECT_AS else None

    def _load(self, name: str, namespace: "dict[str, Any]") -> "Any":
        value = self.values[name]
        target = self._alias_target(name)
        if target is not None:
            return self._bound_value(target, namespace)
        if _marker(value) == MODULE_ATTRIBUTE:
            return _module_global(value[1], value[2])
        main_global = lambda other: self._bound_value(other, namespace)  # noqa: E731
        if _marker(value) == GROUPED:
            return _group(value[1], namespace, main_global)[value[2]]
        return _MainAwareUnpickler(io.BytesIO(value), namespace, main_global).load()

    def _bound_value(self, name: str, namespace: "dict[str, Any]") -> "Any":
        # Another main global, bound now if it is not yet: one object for every name
        # and every value that holds it.
        if name in self.bound:
            return namespace[name]
        if name in self.loading or name not in self.values:
            raise pickle.UnpicklingError(f"the value of {name} is not bound yet")
        self.loading.add(name)
        try:
            namespace[name] = self._load(name, namespace)
        finally:
            self.loading.discard(name)
        self.bound.add(name)
        return namespace[name]


def _resolved(node: "Any", namespace: "dict[str, Any]") -> "Any":
    # The object an attribute chain rooted at a global names (``plugins.register``), or
    # None; only modules are looked into (no user code runs for an attribute).
    import _ast
    import types

    parts = []
    while isinstance(node, _ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, _ast.Name):
        return None
    found = namespace.get(node.id)
    for part in reversed(parts):
        if not isinstance(found, types.ModuleType):
            return None
        found = vars(found).get(part)
    return found


def _note_module_globals_used(called: "list[Any]", namespace: "dict[str, Any]") -> None:
    # The globals of user modules with the parent's values that these functions of those
    # modules read or change: bound afresh from the parent's pickles after the re-run.
    for function in called:
        module_globals = getattr(function, "__globals__", None)
        if not isinstance(module_globals, dict) or module_globals is namespace:
            continue
        owner = module_globals.get("__name__")
        sent = _module_sent.get(owner) if isinstance(owner, str) else None
        if not sent:
            continue
        for name in _globals_used([function], module_globals):
            if name in sent and (owner, name) not in _module_holding:
                _stale_module_globals.add((owner, name))


def _refresh_module_globals() -> "set[tuple[str, str]]":
    # Bind the stale user-module globals afresh (the objects the re-run changed are kept
    # alive, never freed: spawnfix.child_exit); markers and groups are left as they are.
    refreshed = set()
    for owner, name in sorted(_stale_module_globals):
        module = sys.modules.get(owner)
        data = _module_sent.get(owner, {}).get(name)
        if module is None or not isinstance(data, bytes):
            continue
        try:
            value = _MainAwareUnpickler(io.BytesIO(data)).load()
        except Exception as error:
            log_decision("value of %s.%s from the parent not usable: %r", owner, name, error)
            continue
        _keep_replaced(vars(module), {name: value})
        setattr(module, name, value)
        _module_loaded[(owner, name)] = value
        refreshed.add((owner, name))
        log_decision(
            "%s.%s bound afresh: a function the re-run called may have changed it", owner, name
        )
    _stale_module_globals.clear()
    return refreshed


# Builtins a compound statement may call and still be skipped (ChildValues.covers): they
# compute, and call no code of the program's.
_PURE_BUILTINS = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "divmod",
        "enumerate",
        "float",
        "frozenset",
        "int",
        "len",
        "list",
        "max",
        "min",
        "pow",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
    }
)


def _compound_blockers() -> "tuple[type, ...]":
    import _ast

    from spawnfix.main_script import defining_node_types

    return (
        *defining_node_types(),
        _ast.Global,
        _ast.Nonlocal,
        _ast.Delete,
        _ast.ExceptHandler,
        _ast.Await,
        _ast.Yield,
        _ast.YieldFrom,
    )


def _globals_used(functions: "list[Any]", namespace: "dict[str, Any]") -> "set[str]":
    # The global names the code of these functions of the script (and of the script's
    # functions and classes they name, transitively) reads or changes.
    used: set[str] = set()
    seen: set[int] = set()
    pending = [
        function.__code__
        for function in functions
        if getattr(function, "__globals__", None) is namespace
    ]
    pending += [
        getattr(method, "__code__", None)
        for kind in functions
        if isinstance(kind, type) and getattr(kind, "__module__", None) == namespace.get("__name__")
        for method in vars(kind).values()
    ]
    while pending:
        code = pending.pop()
        if code is None or id(code) in seen or len(seen) > _CALL_SCAN_LIMIT:
            continue
        seen.add(id(code))
        for name in code.co_names:
            used.add(name)
            function = namespace.get(name)
            if getattr(function, "__globals__", None) is namespace:
                pending.append(function.__code__)
        pending.extend(const for const in code.co_consts if hasattr(const, "co_names"))
    return used


# How many code objects one statement's calls are followed through.
_CALL_SCAN_LIMIT = 1000


def _keep_replaced(namespace: "dict[str, Any]", values: "dict[str, Any]") -> None:
    # What the re-run computed and a parent's value replaces is never freed in the child
    # (its finaliser would act on the parent's resources: spawnfix.child_exit).
    from spawnfix import child_exit

    for name, value in values.items():
        old = namespace.get(name)
        if old is not None and old is not value:
            child_exit.keep(old)


def _root_name(node: "Any") -> "Optional[str]":
    import _ast

    while isinstance(node, (_ast.Attribute, _ast.Subscript, _ast.Call)):
        node = node.func if isinstance(node, _ast.Call) else node.value
    return node.id if isinstance(node, _ast.Name) else None


class _MainAwareUnpickler(pickle.Unpickler):
    """Resolves ``__main__`` references in the namespace being built (the child's
    ``__main__`` is not installed until the re-run ends)."""

    def __init__(
        self,
        file: "Any",
        namespace: "Optional[dict[str, Any]]" = None,
        main_global: "Optional[Any]" = None,
    ) -> None:
        super().__init__(file)
        self.namespace = namespace
        self.main_global = main_global  # name -> that main global's value, in the child

    def persistent_load(self, reference: "Any") -> "Any":
        """Another global's value (``spawnfix.global_references``), as the child has it."""
        from spawnfix.global_references import MAIN, MODULE

        if reference[0] == MODULE:
            return _module_global(reference[1], reference[2])
        if reference[0] == MAIN and self.main_global is not None:
            return self.main_global(reference[1])
        raise pickle.UnpicklingError(f"no value for the reference {reference!r}")

    def find_class(self, module: str, name: str) -> "Any":
        if module in MAIN_NAMES:
            namespace = self.namespace
            if namespace is None:  # a user module's value: the main being re-run, if any
                main = sys.modules.get("__mp_main__") or sys.modules["__main__"]
                namespace = vars(main)
            head, _, rest = name.partition(".")
            if head in namespace:
                found = namespace[head]
                for part in rest.split(".") if rest else ():
                    found = getattr(found, part)
                return found
        return super().find_class(module, name)


# Module name -> attribute -> the parent's pickle (or a marker) not yet loaded here;
# (module, attribute) -> what it loaded to, and those being loaded (a cycle guard).
_module_pending: "dict[str, dict[str, Any]]" = {}
_module_loaded: "dict[tuple[str, str], Any]" = {}
_module_loading: "set[tuple[str, str]]" = set()
# Module name -> attribute -> the parent's pickle (or a marker), as received; the user
# modules' globals that hold a descriptor (never unpickled twice), and those a function
# the re-run called may have changed (bound afresh when it ends).
_module_sent: "dict[str, dict[str, Any]]" = {}
_module_holding: "set[tuple[str, str]]" = set()
_stale_module_globals: "set[tuple[str, str]]" = set()
# Group number -> the pickle of a cycle of globals, and the tuple it loaded to.
_groups_pending: "dict[int, bytes]" = {}
_groups_loaded: "dict[int, tuple[Any, ...]]" = {}


def _group(
    number: int, namespace: "Optional[dict[str, Any]]", main_global: "Any"
) -> "tuple[Any, ...]":
    # Loaded once: each member is one object for every name and value that holds it.
    if number not in _groups_loaded:
        data = io.BytesIO(_groups_pending[number])
        _groups_loaded[number] = _MainAwareUnpickler(data, namespace, main_global).load()
    return _groups_loaded[number]


class _ModuleValuesFinder:
    """Meta path finder: gives a user module the parent's globals once it is imported."""

    def __init__(self, waiting: "set[str]") -> None:
        self.waiting = waiting

    def find_spec(self, fullname: str, path: "Any" = None, target: "Any" = None) -> "Any":
        """Find ``fullname`` with the other finders; wrap its loader if values wait: it
        runs without effects (the parent's import had them), then gets the values."""
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        from spawnfix.quiet_imports import execute_without_effects, spec_from_other_finders

        if not self.waiting and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = spec_from_other_finders(self, fullname, path, target)
        if spec is not None and not execute_without_effects(spec, _apply_module_values):
            log_decision("values of %s not given: its loader takes no wrapper", fullname)
        return spec


def _apply_module_values(module: "Any") -> None:
    owner = module.__name__
    for name in list(_module_pending.get(owner, ())):
        try:
            value = _module_global(owner, name)
            _keep_replaced(vars(module), {name: value})
            setattr(module, name, value)
        except Exception as error:
            log_decision("value of %s.%s from the parent not usable: %r", owner, name, error)
    _module_pending.pop(owner, None)


def _module_global(owner: str, name: str) -> "Any":
    """A user module's global as the parent has it, loaded once (then the same object for
    every value that holds it); one the parent did not send is the module's own."""
    key = (owner, name)
    if key in _module_loaded:
        return _module_loaded[key]
    if owner not in sys.modules:
        import importlib

        importlib.import_module(owner)  # its import gives it its values
        if key in _module_loaded:
            return _module_loaded[key]
    data = _module_pending.get(owner, {}).get(name)
    if data is None:
        return getattr(sys.modules[owner], name)
    if key in _module_loading:
        raise pickle.UnpicklingError(f"the value of {owner}.{name} is not loaded yet")
    _module_loading.add(key)
    try:
        if _marker(data) == MODULE_ATTRIBUTE:
            value = _module_global(data[1], data[2])
        elif _marker(data) == GROUPED:
            value = _group(data[1], None, None)[data[2]]
        else:
            value = _MainAwareUnpickler(io.BytesIO(data)).load()
    finally:
        _module_loading.discard(key)
    _module_loaded[key] = value
    return value
