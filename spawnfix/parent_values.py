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
child gets the parent's shared object, as under fork. Each global is pickled on its own:

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
- a global of ``__main__`` that is the very object of a user module's global is sent as a
  reference to it, and two ``__main__`` globals bound to one object (``model = net =
  Net()``) as one value and a second name for it, so they stay one object;
- what does not pickle (a lock, a socket, an object holding a thread), what is larger than
  ``SPAWNFIX_VALUE_LIMIT`` (default 16 MiB pickled: sending more to every worker can cost
  more time and memory than computing it again; pickling stops at the limit, and an object
  found too large is not tried again) and objects of ``wandb`` (a child keeps its disabled run)
  are not sent: the child computes them as it otherwise would. ``SPAWNFIX_DEBUG`` names each.

Child side: unpickling the preparation data stores what arrived (``received``). The main
script's re-run (``spawnfix.rerun``) asks ``ChildValues.covers`` for each top-level
statement: an assignment whose names all came from the parent, or a method call on such a
name (``LABELS.extend(...)``), is not run; its names get the parent's values at once. After
the re-run every other name from the parent is bound (``bind_rest``). A user module gets
its globals right after the child imports it (a ``sys.meta_path`` finder wraps its
loader's ``exec_module``).

Limits: values are pickled one by one, so an object reached from two globals through their
contents (a list that is a global and also inside a global dict) arrives as two copies, as
do two globals of one user module bound to one object; a value whose
unpickling fails in the child is left as the child computed it. The ``multiprocess`` and
``billiard`` forks send values the same way, with their own reducers; what only ``dill``
pickles (a lambda stored in a global) is computed by the child.
"""

from __future__ import annotations

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

# Names already reported as not sent, so that SPAWNFIX_DEBUG says it once per process.
_reported: set[tuple[str, str]] = set()


def add_to_preparation(
    data: dict[str, Any], with_main: bool, package: str = "multiprocessing"
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

    def __reduce__(self) -> Any:
        try:
            payload = _snapshot(self.with_main, self.package)
        except Exception as error:  # fail open: the child computes its own values
            log_decision("parent values not sent: %r", error)
            payload = ({}, {}, {}, ())
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


def _out_of_band(payload: tuple[Any, ...], package: str) -> Any:
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


def _arrive_from_descriptor(handed: Any) -> None:
    """Unpickling hook for values sent in a memory file (``_out_of_band``)."""
    descriptor = handed.detach()
    with open(descriptor, "rb") as handle:
        handle.seek(0)
        payload = pickle.loads(handle.read())
    _arrive_in_child(*payload)


def _snapshot(
    with_main: bool, package: str
) -> tuple[dict[str, Any], dict[str, int], dict[str, Any], tuple[str, ...]]:
    import importlib

    from spawnfix import config

    restore = _distinct_descriptors(package)
    reducers = importlib.import_module(f"{package}.reduction").ForkingPickler._extra_reducers
    try:
        return _snapshot_values(with_main, config.current().value_limit, reducers)
    finally:
        restore()


def _distinct_descriptors(package: str) -> Any:
    # A spawn child gets the descriptors a launch passes (popen_spawn_posix ``_fds``), and
    # the list must not hold one twice: a Queue sent here and again as the Process's
    # argument would. Each descriptor a value sends goes as a duplicate of its own, closed
    # once the launch's Popen object is gone.
    import importlib
    import weakref

    popen = importlib.import_module(f"{package}.context").get_spawning_popen()
    if type(popen).__module__ != f"{package}.popen_spawn_posix":
        return lambda: None
    original = popen.duplicate_for_child

    def duplicate_for_child(descriptor: int) -> Any:
        copy = os.dup(descriptor)
        weakref.finalize(popen, os.close, copy)
        return original(copy)

    popen.duplicate_for_child = duplicate_for_child
    return lambda: vars(popen).pop("duplicate_for_child", None)


def _snapshot_values(
    with_main: bool, limit: int, reducers: dict[type, Any]
) -> tuple[dict[str, Any], dict[str, int], dict[str, Any], tuple[str, ...]]:
    modules = _user_modules()
    module_values: dict[str, dict[str, bytes]] = {}
    shared: dict[int, tuple[str, str]] = {}
    for name, module in modules.items():
        namespace = dict(vars(module))
        candidates = _candidates(namespace, name)
        module_values[name] = _pickle_each(candidates, limit, reducers, name)
        for attribute, value in namespace.items():
            if attribute in module_values[name] and not _is_atomic(value):
                shared.setdefault(id(value), (name, attribute))
    main_values: dict[str, Any] = {}
    definitions: dict[str, int] = {}
    holding: set[str] = set()
    main_module = sys.modules.get("__main__")
    if with_main and main_module is not None:
        namespace = dict(vars(main_module))
        candidates = _candidates(namespace, main_module.__name__)
        aliases: dict[str, str] = {}
        first_name: dict[int, str] = {}
        for name, value in list(candidates.items()):
            if id(value) in shared:
                main_values[name] = (MODULE_ATTRIBUTE, *shared[id(value)])
                del candidates[name]
            elif not _is_atomic(value):
                if id(value) in first_name:
                    # `model = net = Net()`: one object in the child too, as under fork.
                    aliases[name] = first_name[id(value)]
                    del candidates[name]
                else:
                    first_name[id(value)] = name
        main_values.update(_pickle_each(candidates, limit, reducers, "__main__", holding))
        for name, target in aliases.items():
            if target in main_values:
                main_values[name] = (SAME_OBJECT_AS, target)
        definitions = _main_definitions(namespace, main_module.__name__)
    modules_sent = {name: v for name, v in module_values.items() if v}
    return main_values, definitions, modules_sent, tuple(holding)


def _candidates(namespace: dict[str, Any], module_name: str) -> dict[str, Any]:
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


def _defined_in(value: Any, module_name: str) -> bool:
    import types

    if not isinstance(value, (type, types.FunctionType)):
        return False
    owner = getattr(value, "__module__", None)
    return owner == module_name or (module_name in MAIN_NAMES and owner in MAIN_NAMES)


def _is_atomic(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes))


def _main_definitions(namespace: dict[str, Any], module_name: str) -> dict[str, int]:
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


def _pickle_each(
    values: dict[str, Any],
    limit: int,
    reducers: dict[type, Any],
    owner: str,
    holding: Optional[set[str]] = None,
) -> dict[str, bytes]:
    pickled = {}
    for name, value in values.items():
        key = (owner, name, id(value))
        if key in _not_sendable:
            continue  # the same object failed before: do not pay for it at every start
        try:
            data, holds_descriptor = _dumps(value, limit, reducers)
        except _TooLarge:
            _not_sendable.add(key)
            _report(owner, name, f"its pickle is larger than SPAWNFIX_VALUE_LIMIT ({limit} bytes)")
            continue
        except Exception as error:
            _not_sendable.add(key)
            _report(owner, name, f"it does not pickle ({type(error).__name__}: {error})")
            continue
        if _NESTED_WANDB in data:
            # A wandb run inside a value (a Lightning Trainer's logger): a child keeps its
            # disabled run, so the value is not sent.
            _not_sendable.add(key)
            _report(owner, name, "it holds wandb objects")
            continue
        pickled[name] = data
        if holds_descriptor and holding is not None:
            holding.add(name)
    return pickled


# How a pickle names a class of the wandb package (``wandb.sdk...``): cheap to look for,
# and a false match only keeps a value from being sent.
_NESTED_WANDB = b"wandb"

# (owner, name, id(value)) of values that did not pickle or were too large.
_not_sendable: set[tuple[str, str, int]] = set()


class _TooLarge(Exception):
    """A value's pickle went over the size limit (pickling stops there)."""


class _LimitedBuffer(io.BytesIO):
    """A pickle's output that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        """Append ``data``, or raise ``_TooLarge`` when the pickle would exceed the limit."""
        if self.tell() + len(data) > self.limit:
            raise _TooLarge
        return super().write(data)


def _report(owner: str, name: str, why: str) -> None:
    if (owner, name) not in _reported:
        _reported.add((owner, name))
        log_decision("%s.%s is not sent to children, %s: they compute it", owner, name, why)


def _dumps(value: Any, limit: int, reducers: dict[type, Any]) -> tuple[bytes, bool]:
    # The pickle, and whether it holds something that owns a descriptor in the child (an
    # open file, a connection, a socket): such a value is unpickled once, never afresh.
    import copyreg
    from collections import ChainMap

    from spawnfix import shared_files

    holds_descriptor = []

    def noting(reduce: Any) -> Any:
        def reduce_noting(obj: Any) -> Any:
            holds_descriptor.append(type(obj).__name__)
            return reduce(obj)

        return reduce_noting

    # The launching package's reducers (its Connection, socket, DupFd...).
    own = {kind: noting(reduce) for kind, reduce in reducers.items()}
    own.update(dict.fromkeys(shared_files.FILE_TYPES, noting(shared_files.reduce_open_file)))
    buffer = _LimitedBuffer(limit)
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = ChainMap(own, copyreg.dispatch_table)
    pickler.dump(value)
    return buffer.getvalue(), bool(holds_descriptor)


def _user_modules() -> dict[str, Any]:
    found = {}
    for name, module in list(sys.modules.items()):
        if name in MAIN_NAMES or name.partition(".")[0] in _NEVER_SENT_PACKAGES:
            continue
        if _is_user_module(name, module):
            found[name] = module
    return found


# Module name -> whether it is one of the user's own modules; decided once per module.
_user_module_cache: dict[str, bool] = {}


def _is_user_module(name: str, module: Any) -> bool:
    known = _user_module_cache.get(name)
    if known is None:
        path = getattr(module, "__file__", None)
        known = isinstance(path, str) and path.endswith(".py") and not _is_installed(path)
        _user_module_cache[name] = known
    return known


_installed_roots: Optional[tuple[str, ...]] = None


def _is_installed(path: str) -> bool:
    global _installed_roots
    if _installed_roots is None:
        import sysconfig

        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        roots.update(sysconfig.get_paths().values())
        for directory in sys.path:
            if os.path.basename(directory) in ("site-packages", "dist-packages"):
                roots.add(directory)
        _installed_roots = tuple(os.path.join(os.path.realpath(root), "") for root in roots if root)
    real = os.path.realpath(path)
    return real.startswith(_installed_roots)


# -- child side -------------------------------------------------------------------------

_received: Optional[ChildValues] = None


def _arrive_in_child(
    main_values: dict[str, Any],
    definitions: dict[str, int],
    module_values: dict[str, Any],
    holding: tuple[str, ...] = (),
) -> None:
    """Unpickling hook: runs in the child while the preparation data is loaded."""
    global _received
    _received = ChildValues(main_values, definitions, frozenset(holding))
    for name in [name for name in module_values if name in sys.modules]:
        # Already imported here: a fork server that preloaded it.
        _apply_module_values(sys.modules[name], module_values.pop(name))
    if module_values:
        sys.meta_path.insert(0, _ModuleValuesFinder(module_values))
    log_decision(
        "child received %d values of __main__ and values of %d modules",
        len(main_values),
        len(module_values),
    )


def received() -> Optional[ChildValues]:
    """Child: the ``__main__`` values the parent sent, or None (none were sent)."""
    return _received


class ChildValues:
    """Child: the parent's ``__main__`` values, bound while and after the main re-runs."""

    def __init__(
        self,
        values: dict[str, Any],
        definitions: dict[str, int],
        holding: frozenset[str] = frozenset(),
    ) -> None:
        self.values = values
        self.definitions = definitions
        # Values that own a descriptor (a file, a connection): never unpickled twice.
        self.holding = holding
        self.bound: set[str] = set()
        self.mentioned_after_binding: set[str] = set()
        self.defined: dict[tuple[str, int], Any] = {}

    def covers(self, node: Any) -> Optional[list[str]]:
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
        else:
            return None
        names: list[str] = []
        for target in targets:
            if not self._collect_targets(target, names):
                return None
        return names

    def _collect_targets(self, target: Any, names: list[str]) -> bool:
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

    def bind_now(self, names: list[str], namespace: dict[str, Any]) -> bool:
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
        namespace.update(unpickled)
        self.bound.update(names)
        return True

    def note_run(self, node: Any, namespace: dict[str, Any]) -> None:
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
        for inner in walk(node):
            if isinstance(inner, _ast.Name) and inner.id in self.bound:
                self.mentioned_after_binding.add(inner.id)

    def bind_rest(self, namespace: dict[str, Any]) -> None:
        """After the re-run: the definitions the parent has, then every value from the
        parent not bound yet (or used by a statement the child ran since)."""
        for name, line in self.definitions.items():
            definition = self.defined.get((name, line))
            if definition is not None and namespace.get(name) is not definition:
                namespace[name] = definition
                log_decision("%s is the definition at line %d, as in the parent", name, line)
        for name in self.values:
            target = self._alias_target(name)
            if target is not None and target in self.bound:
                namespace[name] = namespace.get(target)  # follows a target bound afresh
                self.bound.add(name)
                continue
            if name in self.bound and (
                name not in self.mentioned_after_binding or name in self.holding
            ):
                continue
            try:
                namespace[name] = self._load(name, namespace)
            except Exception as error:
                log_decision("value of %s from the parent not usable: %r", name, error)
                continue
            self.bound.add(name)

    def _alias_target(self, name: str) -> Optional[str]:
        value = self.values[name]
        if isinstance(value, tuple) and value and value[0] == SAME_OBJECT_AS:
            return value[1]
        return None

    def _load(self, name: str, namespace: dict[str, Any]) -> Any:
        value = self.values[name]
        target = self._alias_target(name)
        if target is not None:
            if target not in self.bound:
                namespace[target] = self._load(target, namespace)
                self.bound.add(target)
            return namespace[target]
        if isinstance(value, tuple) and value and value[0] == MODULE_ATTRIBUTE:
            import importlib

            return getattr(importlib.import_module(value[1]), value[2])
        return _MainAwareUnpickler(io.BytesIO(value), namespace).load()


def _root_name(node: Any) -> Optional[str]:
    import _ast

    while isinstance(node, (_ast.Attribute, _ast.Subscript, _ast.Call)):
        node = node.func if isinstance(node, _ast.Call) else node.value
    return node.id if isinstance(node, _ast.Name) else None


class _MainAwareUnpickler(pickle.Unpickler):
    """Resolves ``__main__`` references in the namespace being built (the child's
    ``__main__`` is not installed until the re-run ends)."""

    def __init__(self, file: Any, namespace: Optional[dict[str, Any]] = None) -> None:
        super().__init__(file)
        self.namespace = namespace

    def find_class(self, module: str, name: str) -> Any:
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


class _ModuleValuesFinder:
    """Meta path finder: gives a user module the parent's globals once it is imported."""

    def __init__(self, module_values: dict[str, dict[str, bytes]]) -> None:
        self.pending = module_values

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """Find ``fullname`` with the other finders; wrap its loader if values wait."""
        if fullname not in self.pending:
            return None
        values = self.pending.pop(fullname)
        if not self.pending and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            vars(loader).pop("exec_module", None)  # the instance attribute set below
            original(module)
            _apply_module_values(module, values)

        try:
            loader.exec_module = exec_module
        except AttributeError:  # a loader without instance attributes: values not given
            log_decision("values of %s not given: its loader takes no wrapper", fullname)
        return spec


def _apply_module_values(module: Any, values: dict[str, bytes]) -> None:
    for name, data in values.items():
        try:
            setattr(module, name, _MainAwareUnpickler(io.BytesIO(data)).load())
        except Exception as error:
            owner = module.__name__
            log_decision("value of %s.%s from the parent not usable: %r", owner, name, error)
