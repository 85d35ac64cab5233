"""By-value pickling: what only ``fork`` could send to a child, sent with cloudpickle.

Under ``fork`` a child inherits the parent's memory: a lambda or closure as a ``Process``
target, a local class, or a function defined in a notebook cell or a ``python -c``
program just works. Under spawn and forkserver everything a child needs is pickled, and
pickle finds functions and classes by module and name only, so these fail (``PicklingError:
Can't pickle <function <lambda>>``, or ``AttributeError: Can't get attribute 'square' on
<module '__main__'>`` in every worker while a ``Pool`` hangs).

``install`` wraps ``multiprocessing.reduction.ForkingPickler.dumps`` and
``reduction.dump``, which every channel to a child goes through: the process object and
its arguments, ``Pool`` and ``ProcessPoolExecutor`` tasks and results, ``Queue`` and
``Pipe`` messages. Then:

- a script's ``__main__`` (children re-run it): the standard pickler runs first; only if it
  fails does a second attempt send the functions and classes that cannot be found by
  reference (lambdas, ``<locals>``) by value. A pickle that works is unchanged (same bytes,
  one extra function call);
- an interactive ``__main__`` (Jupyter/IPython kernel, ``python -c``, stdin, the REPL),
  which spawn and forkserver children do not re-create, once such a child was launched:
  the pickle is made by a pickler that stops at the first function or class of
  ``__main__``; if there is one, it (and whatever else cannot be found by reference) is
  sent by value, else the standard bytes are used. A program with only ``fork`` children
  is left alone. In a child, only the second-attempt rule applies (results sent back).

cloudpickle (what loky, joblib, dask and Ray use) is imported only when something is
actually sent by value. Default mode: one ``SentByValueWarning`` per process tree, from
the parent; ``quiet``: none; ``strict``: ``ChildPicklingError`` instead of sending by value.
Only pickle's by-reference failures are retried by value. Any other pickling error, and
one the by-value attempt cannot repair either (an open file, a ``threading.Lock``, an
object whose ``__reduce__`` raises), reaches the program as the standard library's own
exception, same object and type (a ``Queue``'s ``_on_queue_feeder_error`` sees it as
without spawnfix); for a process launch it gets a note naming the object, where it sits
in what was being sent, why fork did not need it, and the fix.
Not covered: the ``multiprocess`` fork (dill already pickles by value) and
``billiard``.

Installed at the first spawn or forkserver launch (``spawnfix.mp_hooks``), never for a
program that only forks; in a worker, once it has imported cloudpickle (it received
something by value and may send such objects back). The top level is definitions only,
without ``from __future__`` (importing ``__future__`` alone costs half a millisecond).
"""

import io
import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# The replacements made in the reduction module (spawnfix.private_api.Patches), for ``uninstall``,
# and that module (multiprocessing.reduction).
_patched = None
_reduction = None

# Whether this process has prepared a spawn or forkserver child (spawnfix.mp_hooks says
# so): until then an interactive __main__ only has fork children, which inherit it, and
# its pickles are left alone.
_spawn_launched = False

# Set in the environment once a by-value warning was given, so children never repeat it.
_WARNED_VARIABLE = "SPAWNFIX_BY_VALUE_WARNED"


class _NeedsByValue(Exception):
    """Raised by the scanning pickler at the first object of an interactive __main__."""


class _ByValueFailed(Exception):
    """The by-value attempt failed too: the program gets the standard library's error."""


def install(reduction: "Any") -> None:
    """Wrap ``reduction.ForkingPickler.dumps`` and ``reduction.dump``; idempotent."""
    global _patched, _reduction
    if _patched:
        return
    forking_pickler = reduction.ForkingPickler
    original_dumps = forking_pickler.__dict__["dumps"].__func__
    original_dump = reduction.dump
    from spawnfix.private_api import expects
    from spawnfix.process_state import spawning_popen

    if not (
        expects(original_dumps, "multiprocessing.reduction:ForkingPickler.dumps")
        and expects(original_dump, "multiprocessing.reduction:dump")
    ):
        return

    def dumps(cls: "Any", obj: "Any", protocol: "Any" = None) -> "Any":
        popen = spawning_popen(reduction)
        fds_before = len(popen._fds) if popen is not None else 0
        try:
            if _spawn_launched and _main_is_interactive() and not _in_child_process():
                return _scan_for_interactive_objects(cls, obj, protocol)
            return original_dumps(cls, obj, protocol)
        except _NeedsByValue as found:
            reason: Any = found.args[0]
        except Exception as error:
            if not _is_pickling_failure(error):
                raise
            if not _by_value_could_help(obj, error):
                _teach(error, obj, popen)
                raise
            reason = error
        if popen is not None:
            # A failed attempt may have registered descriptors to pass to the child; the
            # second attempt registers them again (spawn rejects duplicates).
            del popen._fds[fds_before:]
        try:
            return _dumps_by_value(cls, obj, protocol, reason)
        except _ByValueFailed:
            pass
        if popen is not None:
            del popen._fds[fds_before:]
        if isinstance(reason, BaseException):
            _teach(reason, obj, popen)
            raise reason
        # The interactive scan never tried the standard pickler: its error is the one
        # the program would have seen without spawnfix.
        try:
            return original_dumps(cls, obj, protocol)
        except Exception as error:
            _teach(error, obj, popen)
            raise

    def dump(obj: "Any", file: "Any", protocol: "Any" = None) -> None:
        # The process object goes into the launch buffer after the preparation data:
        # pickle it apart first, so that a failed attempt leaves no bytes behind.
        file.write(dumps(_launch_pickler(forking_pickler), obj, protocol))

    from spawnfix.private_api import Patches

    patches = Patches()
    patches.replace(forking_pickler, "dumps", classmethod(dumps))
    patches.replace(reduction, "dump", dump)
    _patched, _reduction = patches, reduction


def install_after_cloudpickle(_cloudpickle: "Any") -> None:
    """Install by-value pickling once cloudpickle is imported in a process that uses
    multiprocessing: a worker that received something by value sends such objects back
    the same way (the parent installs it at its first launch, ``spawnfix.mp_hooks``)."""
    reduction = sys.modules.get("multiprocessing.reduction")
    if reduction is not None:
        install(reduction)


def note_spawn_launch() -> None:
    """Called for every spawn or forkserver launch: from now on, functions and classes of
    an interactive ``__main__`` go by value."""
    global _spawn_launched
    _spawn_launched = True


def uninstall() -> None:
    """Restore ``ForkingPickler.dumps`` and ``reduction.dump``."""
    if _patched:
        _patched.undo()


def _launch_pickler(forking_pickler: "Any") -> "Any":
    # A launch (``reduction.dump`` is only called for one) shares large numpy arrays with
    # the child (spawnfix.parent_shared_buffers), unless its interpreter is another one.
    if "numpy" not in sys.modules:
        return forking_pickler
    try:
        from spawnfix import parent_shared_buffers, process_state

        spawn = sys.modules.get("multiprocessing.spawn")
        if spawn is None or process_state.children_run_another_interpreter(spawn):
            return forking_pickler
        return parent_shared_buffers.pickler_class(forking_pickler)
    except Exception as error:  # fail open: every array through the pipe
        from spawnfix.diagnostics import log_decision

        log_decision("arrays not shared with the child: %r", error)
        return forking_pickler


def _main_is_interactive() -> bool:
    """Whether children cannot re-create ``__main__`` from a file: a Jupyter or IPython
    kernel, ``python -c``, stdin, the REPL (no file behind ``__main__``; any file, also
    without ``.py`` or compiled, is re-run by spawn)."""
    main = sys.modules.get("__main__")
    key = (id(main), getattr(main, "__file__", None))
    if key not in _interactive_mains:
        _interactive_mains.clear()  # one __main__ at a time; it changes in a child
        _interactive_mains[key] = _is_interactive(main)
    return _interactive_mains[key]


# The answer of _main_is_interactive for the current __main__ (it stats a file).
_interactive_mains = {}


def _is_interactive(main: "Any") -> bool:
    if getattr(getattr(main, "__spec__", None), "name", None):
        return False  # python -m: children import the module again
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or not os.path.isfile(path):
        return True  # no file (-c, a kernel, the REPL) or "<stdin>"
    return os.path.basename(path) in ("ipykernel_launcher.py", "ipython.py", "ipython")


def _is_pickling_failure(error: BaseException) -> bool:
    # Any of these is retried by value; if that fails too, the error teaches.
    import pickle

    return isinstance(error, (pickle.PicklingError, AttributeError, TypeError))


def _scan_for_interactive_objects(cls: "Any", obj: "Any", protocol: "Any") -> "Any":
    """Pickle as the standard library does, but stop at the first function or class of an
    interactive ``__main__`` (raising ``_NeedsByValue``); otherwise return the bytes."""
    buffer = io.BytesIO()
    _scanning_pickler_class(cls)(buffer, protocol).dump(obj)
    return buffer.getbuffer()


# Scanning pickler classes by ForkingPickler class (one in practice), made on first use.
_scanning_classes = {}


def _scanning_pickler_class(base: "Any") -> "Any":
    if base not in _scanning_classes:

        class ScanningPickler(base):
            def reducer_override(self, obj: "Any") -> "Any":
                if _is_function_or_class(obj) and getattr(obj, "__module__", None) == "__main__":
                    raise _NeedsByValue(obj)
                return NotImplemented

        _scanning_classes[base] = ScanningPickler
    return _scanning_classes[base]


def _is_function_or_class(obj: "Any") -> bool:
    import types

    return isinstance(obj, (types.FunctionType, type))


def pickles_by_reference(obj: "Any") -> bool:
    """Whether a child can find ``obj`` (a function or class) by module and name."""
    qualname = getattr(obj, "__qualname__", "")
    module_name = getattr(obj, "__module__", None)
    if not module_name or "<locals>" in qualname or "<lambda>" in qualname:
        return False
    if module_name == "__main__" and _main_is_interactive():
        return False
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


def _dumps_by_value(cls: "Any", obj: "Any", protocol: "Any", reason: "Any") -> "Any":
    from spawnfix import config

    if config.current().mode == config.STRICT and _by_value_objects(obj):
        raise _strict_refusal(obj, reason)
    buffer = io.BytesIO()
    try:
        _by_value_pickler_class(cls)(buffer, protocol).dump(obj)
    except Exception as error:
        raise _ByValueFailed() from error
    _announce(obj, reason)
    return buffer.getbuffer()


# What the standard pickler says when it cannot find a function or class by reference
# (3.8-3.15 wordings): only such failures can be repaired by value.
_BY_REFERENCE_FAILURES = (
    "Can't pickle local object",
    "Can't get local object",
    "Can't get local attribute",
    "attribute lookup",
    "it's not found as",
    "it's not the same object as",
    "<lambda>",
    "<locals>",
)


def _by_value_could_help(obj: "Any", error: BaseException) -> bool:
    """Whether ``error`` is pickle's by-reference failure (a lambda, a local function or
    class), the only kind that sending by value repairs; any other pickling error (an
    object whose ``__reduce__`` raises, an open file) reaches the program unchanged."""
    text = str(error)
    if any(words in text for words in _BY_REFERENCE_FAILURES):
        return True
    return bool(_by_value_objects(obj))


def _teach(error: BaseException, obj: "Any", popen: "Any") -> None:
    """Add to the standard library's error, for a process launch, what cannot be sent,
    where it sits, why fork did not need it, and the fix (a note on 3.11+, else the
    message); the type stays the same."""
    if popen is None:
        return  # a queue or pipe message: pickled under fork too, nothing to explain
    try:
        from spawnfix import messages

        culprit, where = _locate_unpicklable(obj)
        text = messages.unpicklable_for_child(culprit, where, error)
        if hasattr(error, "add_note"):
            error.add_note(text)
        elif len(error.args) == 1 and isinstance(error.args[0], str):
            error.args = (f"{error.args[0]}\n{text}",)
    except Exception as failure:  # the explanation is optional, the error is not
        from spawnfix.diagnostics import log_decision

        log_decision("could not explain a pickling error: %r", failure)


# cloudpickle-based picklers by ForkingPickler class, made on first use.
_by_value_classes = {}


def _by_value_pickler_class(base: "Any") -> "Any":
    if base in _by_value_classes:
        return _by_value_classes[base]
    from collections import ChainMap

    import cloudpickle

    class ByValuePickler(cloudpickle.Pickler):
        """cloudpickle, for what cannot be found by reference only, with
        multiprocessing's own reducers (connections, sockets, descriptors)."""

        # A class attribute: the C pickler reads it once, at __init__ (cloudpickle's own
        # class attribute would shadow an assignment made after that).
        dispatch_table = ChainMap(  # noqa: RUF012 (a per-class table is the point)
            base._extra_reducers, cloudpickle.Pickler.dispatch_table
        )

        def reducer_override(self, obj: "Any") -> "Any":
            if _is_function_or_class(obj) and pickles_by_reference(obj):
                return NotImplemented
            return super().reducer_override(obj)

    _by_value_classes[base] = ByValuePickler
    return ByValuePickler


def _announce(obj: "Any", reason: "Any") -> None:
    from spawnfix import config

    if config.current().debug:
        from spawnfix.diagnostics import log_decision

        log_decision("sent by value (cloudpickle): %s", _describe_payload(obj))
    if not config.current().warns or os.environ.get(_WARNED_VARIABLE):
        return
    if _in_child_process():
        return
    os.environ[_WARNED_VARIABLE] = "1"
    import warnings

    from spawnfix import messages
    from spawnfix.errors import SentByValueWarning

    found = _by_value_objects(obj)
    text = messages.sent_by_value(found, _main_is_interactive())
    path, line = _definition_site(found[0]) if found else ("<unknown>", 0)
    warnings.warn_explicit(text, SentByValueWarning, path, line, module="__main__")


def _in_child_process() -> bool:
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def _by_value_objects(obj: "Any", limit: int = 3) -> "list[Any]":
    """The functions and classes in ``obj`` that cannot be found by reference."""
    found: list[Any] = []
    seen: set = set()

    def visit(item: "Any", depth: int) -> None:
        if len(found) >= limit or depth > 4 or id(item) in seen:
            return
        seen.add(id(item))
        if _is_function_or_class(item):
            if getattr(item, "__module__", None) != "builtins" and not pickles_by_reference(item):
                found.append(item)
            return
        for child in _children(item):
            visit(child, depth + 1)

    visit(obj, 0)
    return found


# How many items of one container the search for by-value objects looks at: enough for a
# task tuple or a process object, bounded for a chunk of 60,000 numbers.
_ITEMS_LOOKED_AT = 32


def _children(item: "Any") -> "list[Any]":
    if isinstance(item, (list, tuple)):
        return list(item[:_ITEMS_LOOKED_AT])
    if isinstance(item, (set, frozenset)):
        return list(item)[:_ITEMS_LOOKED_AT]
    if isinstance(item, dict):
        return list(item.values())[:_ITEMS_LOOKED_AT]
    attributes = getattr(item, "__dict__", None)
    children = [] if type(item).__module__ == "builtins" else [type(item)]
    if isinstance(attributes, dict):
        children.extend(attributes.values())
    return children


def _definition_site(obj: "Any") -> "tuple[str, int]":
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename, code.co_firstlineno
    for value in vars(obj).values() if isinstance(obj, type) else ():
        code = getattr(value, "__code__", None)
        if code is not None:
            return code.co_filename, code.co_firstlineno
    return "<unknown>", 0


def _describe_payload(obj: "Any") -> str:
    return ", ".join(_name_of(item) for item in _by_value_objects(obj)) or type(obj).__name__


def _name_of(obj: "Any") -> str:
    path, line = _definition_site(obj)
    kind = "class" if isinstance(obj, type) else "function"
    return f"{kind} {obj.__qualname__} ({path}:{line})"


def _strict_refusal(obj: "Any", reason: "Any") -> BaseException:
    from spawnfix import messages
    from spawnfix.errors import ChildPicklingError

    return ChildPicklingError(
        messages.by_value_refused([_name_of(item) for item in _by_value_objects(obj)], reason)
    )


def _locate_unpicklable(obj: "Any") -> "tuple[Any, str]":
    """The innermost part of ``obj`` that cannot be pickled even by value, and where it
    sits (``args[1] of Process(target=work)``, ``an item of a Pool task``...)."""
    pickler_class = _by_value_pickler_class(_reduction.ForkingPickler)

    def fails(item: "Any") -> bool:
        try:
            pickler_class(io.BytesIO()).dump(item)
        except Exception:
            return True
        return False

    process_class = getattr(sys.modules.get("multiprocessing.process"), "BaseProcess", None)
    if process_class is not None and isinstance(obj, process_class):
        target = getattr(obj, "_target", None)
        call = f"Process(target={getattr(target, '__qualname__', target)})"
        if target is not None and fails(target):
            return target, f"the target of {call}"
        for index, arg in enumerate(getattr(obj, "_args", ())):
            if fails(arg):
                inner, _ = _descend(arg, fails)
                return inner, f"args[{index}] of {call}"
        for name, arg in getattr(obj, "_kwargs", {}).items():
            if fails(arg):
                inner, _ = _descend(arg, fails)
                return inner, f"kwargs[{name!r}] of {call}"
    return _descend(obj, fails)


def _descend(obj: "Any", fails: "Any", path: str = "the object sent", depth: int = 0) -> "Any":
    if depth < 6:
        for index, child in enumerate(_children(obj) if not isinstance(obj, type) else []):
            if child is not type(obj) and fails(child):
                return _descend(child, fails, f"{path} > item {index}", depth + 1)
    return obj, path
