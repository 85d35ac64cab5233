"""Child: the parent's values, bound as a fork child has them (``spawnfix.parent_values``
sends them).

``arrive`` (a step of ``spawnfix.child_start``) keeps what arrived (``received``). The
main script's re-run (``spawnfix.rerun``) asks ``ChildValues.covers`` for each top-level
statement: an assignment whose names all came from the parent, or a method call on such a
name (``LABELS.extend(...)``), is not run; its names get the parent's values at once. After
the re-run every other name from the parent is bound (``bind_rest``). A user module gets
its globals right after the child imports it (a ``sys.meta_path`` finder wraps its
loader's ``exec_module``).

Limits: a value whose unpickling fails in the child is left as the child computed it.
"""

import io
import pickle
import sys

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

MAIN_NAMES = ("__main__", "__mp_main__")

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


class SentValues:
    """The parent's values as they arrive in the child: plain data until ``arrive``."""

    __slots__ = ("payload",)

    def __init__(self, *payload: "Any") -> None:
        self.payload = payload

    def __bool__(self) -> bool:
        return True


def values_from_descriptor(handed: "Any") -> SentValues:
    """Unpickling, for values sent in a memory file (``parent_values._out_of_band``)."""
    descriptor = handed.detach()
    with open(descriptor, "rb") as handle:
        handle.seek(0)
        payload = pickle.loads(handle.read())
    return SentValues(*payload)


def arrive(sent: SentValues) -> None:
    """The child recipe's step (``spawnfix.child_start``): keep the values for the re-run,
    and give the program's own modules theirs when they are imported."""
    _arrive(*sent.payload)


_received: "Optional[ChildValues]" = None


def _arrive(
    main_values: "dict[str, Any]",
    definitions: "dict[str, int]",
    module_values: "dict[str, dict[str, Any]]",
    holding: "tuple[str, ...]" = (),
    references: "Optional[dict[str, tuple[str, ...]]]" = None,
    groups: "Optional[dict[int, bytes]]" = None,
    module_holding: "tuple[tuple[str, str], ...]" = (),
) -> None:
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
