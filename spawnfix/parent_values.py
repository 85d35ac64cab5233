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

The child side is ``spawnfix.child_values``.

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

from spawnfix.child_values import GROUPED, MAIN_NAMES, MODULE_ATTRIBUTE, SAME_OBJECT_AS
from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from spawnfix.handoff import Handoff

_NEVER_SENT_PACKAGES = ("wandb", "spawnfix", "sitecustomize", "usercustomize")

# Names already reported as not sent, so that SPAWNFIX_DEBUG says it once per process.
_reported: "set[tuple[str, str]]" = set()


def add_to_preparation(handoff: "Handoff", with_main: bool) -> None:
    """Parent: the launch's hand-off gets a ``ParentValues``; its package is the
    multiprocessing whose launch it is (``multiprocess`` and ``billiard`` have their own
    pickler reducers and spawning context)."""
    handoff.values = ParentValues(with_main, handoff.package)


class ParentValues:
    """The parent's globals, pickled when the preparation data is (at ``start()``)."""

    __slots__ = ("package", "with_main")

    def __init__(self, with_main: bool, package: str = "multiprocessing") -> None:
        self.with_main = with_main
        self.package = package

    def __reduce__(self) -> "Any":
        from spawnfix.child_values import SentValues, values_from_descriptor

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
            return (values_from_descriptor, (descriptor,))
        return (SentValues, payload)


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
