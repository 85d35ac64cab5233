"""The parent's logging, warnings and environment, given to spawn and forkserver children.

Under ``fork`` a worker inherits the parent's configured ``logging`` (its records land in
the parent's handlers) and ``warnings`` filters. A spawn or forkserver child starts with
neither: records below WARNING vanish into the last-resort handler, and warnings the
parent silenced are printed by every worker. This module closes that gap.

Parent side (``add_to_preparation``, called by ``spawnfix.mp_hooks`` for every spawn or
forkserver launch): when the program has imported ``logging`` and configured something,
or imported ``warnings``, a ``ConfigSnapshot`` goes into the preparation data:

- loggers (the root and every named logger the program configured): level,
  ``propagate``, ``disabled``, filters, handlers; ``logging.disable``;
- handlers, rebuilt in the child: a ``StreamHandler`` on the parent's stdout or stderr
  writes to the child's; a ``FileHandler`` appends to the same file (never truncates it,
  whatever mode the parent used; the file is opened at the first record); any other
  handler (``RotatingFileHandler``, ``QueueHandler`` with a multiprocessing queue, the
  program's own classes) is sent as its class and attributes without its lock, its
  stream as the parent's open file; each with its level, formatter and filters. A logger
  with a handler that cannot be sent (a ``QueueHandler`` on a thread queue) is left out
  whole, so that the program's own set-up of it runs as without spawnfix;
- ``warnings.filters`` (which already hold ``sys.warnoptions``);
- for a forkserver child, the changes the parent made to ``os.environ`` since the fork
  server started (it forks every child with the environment it started with; fork and
  spawn children get the parent's current one).

Child side: unpickling the snapshot applies it, before the child imports the main
script, so that a child's own configuration (a Pool ``initializer``, a DataLoader
``worker_init_fn``, a ``basicConfig`` the child runs) comes later and has the last word,
as under fork. Each part is applied on its own; what cannot be rebuilt (a handler that
does not pickle, a filter or warning category defined in the main script, which the child
has not imported yet) is left out and named under ``SPAWNFIX_DEBUG``. A program that
configured nothing sends nothing. Not covered: the ``multiprocess`` and ``billiard``
forks; children started by spawned children.
"""

import os
import pickle
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

    from spawnfix.handoff import Handoff

_STYLES = {"PercentStyle": "%", "StrFormatStyle": "{", "StringTemplateStyle": "$"}


# The environment the fork server was started with (``note_fork_server_start``): a
# forkserver child inherits that one, not the parent's current ``os.environ``.
_fork_server_environment: "Optional[dict[str, str]]" = None


def note_fork_server_start() -> None:
    """Parent: the fork server is being started now, with the current environment."""
    global _fork_server_environment
    _fork_server_environment = dict(os.environ)


def add_to_preparation(handoff: "Handoff", forkserver: bool) -> None:
    """Parent: the launch's hand-off gets the configuration snapshot."""
    snapshot = take_snapshot(forkserver)
    if snapshot is not None:
        handoff.settings = snapshot


def take_snapshot(forkserver: bool = False) -> "Optional[ConfigSnapshot]":
    """The parent's logging and warnings configuration (and, for a forkserver child, the
    environment changes since the fork server started), or None when there is none."""
    logging_state = _logging_state(sys.modules.get("logging"))
    filters = _changed_warning_filters(sys.modules.get("warnings"))
    environment = _environment_changes() if forkserver else None
    if logging_state is None and not filters and not environment:
        return None
    return ConfigSnapshot(logging_state, filters, environment)


def _environment_changes() -> "Optional[tuple[dict[str, str], list[str]]]":
    started = _fork_server_environment
    if started is None:
        return None
    current = dict(os.environ)
    changed = {key: value for key, value in current.items() if started.get(key) != value}
    removed = [key for key in started if key not in current]
    return (changed, removed) if changed or removed else None


def _changed_warning_filters(warnings: "Any") -> "Optional[list[bytes]]":
    import spawnfix

    if warnings is None or tuple(warnings.filters) == spawnfix.initial_warning_filters:
        return None  # unchanged: the child's own start gives it the same filters
    return _picklable_items(list(warnings.filters))


class ConfigSnapshot:
    """Travels in the hand-off; the child gets it as ``SentSettings``."""

    def __init__(
        self, logging_state: "Optional[dict[str, Any]]", filters: "Any", environment: "Any"
    ) -> None:
        self.logging_state = logging_state
        self.filters = filters
        self.environment = environment

    def __reduce__(self) -> "Any":
        # Each part is its own pickle, so that one the child cannot load (a class of the
        # main script) costs only that part.
        parts = (self.logging_state, self.filters)
        return (SentSettings, (*map(_dumps, parts), self.environment))


def _dumps(value: "Any") -> "Optional[bytes]":
    return None if value is None else pickle.dumps(value)


class SentSettings:
    """Child: the parent's settings as they arrive; ``apply`` is a step of the child's
    start (``spawnfix.child_start``)."""

    __slots__ = ("environment", "filter_bytes", "logging_bytes")

    def __init__(
        self,
        logging_bytes: "Optional[bytes]",
        filter_bytes: "Optional[bytes]",
        environment: "Any" = None,
    ) -> None:
        self.logging_bytes = logging_bytes
        self.filter_bytes = filter_bytes
        self.environment = environment

    def apply(self) -> None:
        """Environment, then warnings filters, then logging."""
        _apply_in_child(self.logging_bytes, self.filter_bytes, self.environment)


def _apply_in_child(
    logging_bytes: "Optional[bytes]", filter_bytes: "Optional[bytes]", environment: "Any" = None
) -> None:
    if environment is not None:
        changed, removed = environment
        os.environ.update(changed)
        for key in removed:
            os.environ.pop(key, None)
    if filter_bytes is not None:
        _guarded(_apply_warnings, filter_bytes)
    if logging_bytes is not None:
        _guarded(_apply_logging, logging_bytes)


def _guarded(apply: "Any", payload: bytes) -> None:
    try:
        apply(payload)
    except Exception as error:  # fail open: the child starts as without spawnfix
        _log("parent's configuration not applied (%s): %r", apply.__name__, error)


def _apply_warnings(payload: bytes) -> None:
    import warnings

    filters = _loads_items(pickle.loads(payload))
    warnings.filters[:] = filters
    refresh = getattr(warnings, "_filters_mutated", None) or getattr(
        warnings, "_filters_mutated_lock_held", None
    )
    if refresh is not None:
        refresh()


# Logging, parent side -------------------------------------------------------------------


def _logging_state(logging: "Any") -> "Optional[dict[str, Any]]":
    if logging is None:
        return None
    root = logging.getLogger()
    named = [
        (name, logger)
        for name, logger in list(logging.root.manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
        and _configured(logging, logger)
        # spawnfix's own debug logger: each child sets it up itself from SPAWNFIX_DEBUG.
        and name.partition(".")[0] != "spawnfix"
    ]
    disable = logging.root.manager.disable
    root_default = root.level == logging.WARNING and not root.handlers and not root.filters
    if root_default and not named and not disable:
        return None
    handlers: dict[int, Any] = {}
    loggers = [_logger_spec(logging, "", root, handlers)]
    loggers += [_logger_spec(logging, name, logger, handlers) for name, logger in named]
    return {"disable": disable, "loggers": loggers, "handlers": handlers}


def _configured(logging: "Any", logger: "Any") -> bool:
    return bool(
        logger.level != logging.NOTSET
        or logger.handlers
        or logger.filters
        or not logger.propagate
        or logger.disabled
    )


def _logger_spec(logging: "Any", name: str, logger: "Any", handlers: "dict[int, Any]") -> dict:
    for handler in logger.handlers:
        if id(handler) not in handlers:
            handlers[id(handler)] = _handler_spec(logging, handler)
    return {
        "name": name,
        "level": logger.level,
        "propagate": logger.propagate,
        "disabled": logger.disabled,
        "filters": _picklable_items(logger.filters),
        "handlers": [id(handler) for handler in logger.handlers],
    }


def _handler_spec(logging: "Any", handler: "Any") -> "Optional[dict[str, Any]]":
    common = {
        "level": handler.level,
        "formatter": _formatter_spec(logging, handler.formatter),
        "filters": _picklable_items(handler.filters),
    }
    kind = type(handler)
    if kind is logging.FileHandler:
        shared = None
        if getattr(handler, "stream", None) is not None:
            from spawnfix.shared_files import LaunchDescriptor

            # The parent's descriptor itself: parent and children write at one offset.
            shared = LaunchDescriptor(handler.stream)
        return dict(
            common,
            kind="file",
            path=handler.baseFilename,
            encoding=handler.encoding,
            errors=getattr(handler, "errors", None),
            shared=shared,
        )
    if kind is logging.StreamHandler:
        stream = getattr(handler, "stream", None)
        for name in ("stdout", "stderr"):
            if stream is getattr(sys, name) or stream is getattr(sys, f"__{name}__"):
                return dict(common, kind="stream", stream=name)
    return {"kind": "rebuilt", "handler": _HandlerAtLaunch(handler)}


class _HandlerAtLaunch:
    """Parent: any other handler (a ``RotatingFileHandler``, a ``QueueHandler``, the
    program's own class), pickled when the launch pickles the preparation data, where a
    multiprocessing ``Queue`` and an open file's descriptor can be passed: its class and
    attributes without its lock. The child receives the pickle, or None."""

    def __init__(self, handler: "Any") -> None:
        self.handler = handler

    def __reduce__(self) -> "Any":
        return (_received_handler, (_pickle_handler(self.handler),))


def _received_handler(pickled: "Optional[bytes]") -> "Optional[bytes]":
    return pickled


def _pickle_handler(handler: "Any") -> "Optional[bytes]":
    if _unpicklable.get(id(handler)) is handler:
        return None  # failed at an earlier start: not tried at every one
    state = {name: value for name, value in vars(handler).items() if name != "lock"}
    try:
        import io
        from multiprocessing.reduction import ForkingPickler

        from spawnfix import shared_files

        restore = shared_files.distinct_descriptors("multiprocessing")
        try:
            buffer = io.BytesIO()
            pickler = ForkingPickler(buffer, pickle.HIGHEST_PROTOCOL)
            for kind in shared_files.FILE_TYPES:  # its stream: the parent's open file
                pickler.dispatch_table[kind] = shared_files.reduce_open_file
            pickler.dump((type(handler), state))
        finally:
            restore()
        return buffer.getvalue()
    except Exception as error:
        _log("%r not given to children: it does not pickle (%r)", handler, error)
        _unpicklable[id(handler)] = handler
        return None


def _formatter_spec(logging: "Any", formatter: "Any") -> "Optional[Any]":
    if formatter is None:
        return None
    if type(formatter) is logging.Formatter:
        style = _STYLES.get(type(formatter._style).__name__, "%")
        return ("standard", formatter._fmt, formatter.datefmt, style)
    pickled = _dumps_or_none(formatter)
    return None if pickled is None else ("pickled", pickled)


def _dumps_or_none(item: "Any") -> "Optional[bytes]":
    """``item`` pickled, or None (named under SPAWNFIX_DEBUG) when it does not pickle."""
    if _unpicklable.get(id(item)) is item:
        return None  # failed at an earlier start: not tried at every one
    try:
        return pickle.dumps(item)
    except Exception as error:
        _log("%r not given to children: it does not pickle (%r)", item, error)
        _unpicklable[id(item)] = item
        return None


# id -> a handler, formatter or filter that did not pickle (kept, so the id stays its own).
_unpicklable: "dict[int, Any]" = {}


def _picklable_items(items: "list[Any]") -> "list[bytes]":
    pickled = [_dumps_or_none(item) for item in items]
    return [item for item in pickled if item is not None]


def _loads_items(items: "list[bytes]") -> "list[Any]":
    loaded = []
    for item in items:
        try:
            loaded.append(pickle.loads(item))
        except Exception as error:  # e.g. a class of the main script, not imported yet
            _log("parent's %r left out in this child: %r", item[:60], error)
    return loaded


# Logging, child side --------------------------------------------------------------------


def _apply_logging(payload: bytes) -> None:
    import logging

    state = pickle.loads(payload)
    handlers = {
        key: _rebuild_handler(logging, spec) if spec is not None else None
        for key, spec in state["handlers"].items()
    }
    for spec in state["loggers"]:
        missing = [key for key in spec["handlers"] if handlers.get(key) is None]
        if missing:
            # Configured in part, the logger would look set up to the program's own
            # set-up ("if not logger.handlers:"), which then adds nothing: left as it is.
            _log("logger %r left to the child: a handler of it could not be sent", spec["name"])
            continue
        logger = logging.getLogger(spec["name"] or None)
        logger.setLevel(spec["level"])
        logger.propagate = spec["propagate"]
        logger.disabled = spec["disabled"]
        for item in _loads_items(spec["filters"]):
            logger.addFilter(item)
        for key in spec["handlers"]:
            if handlers.get(key) is not None:
                logger.addHandler(handlers[key])
    if state["disable"]:
        logging.disable(state["disable"])


def _rebuild_handler(logging: "Any", spec: "dict[str, Any]") -> "Any":
    try:
        if spec["kind"] == "file":
            # Append, never truncate: the parent's file already holds its records.
            handler = logging.FileHandler(spec["path"], "a", spec["encoding"], delay=True)
            if spec.get("shared") is not None:
                from spawnfix.shared_files import adopt

                text = (handler.encoding, spec.get("errors"))
                handler.stream = adopt(spec["shared"], "a", text, spec["path"])
        elif spec["kind"] == "stream":
            handler = logging.StreamHandler(getattr(sys, spec["stream"]))
        else:
            return _rebuild_pickled_handler(logging, spec["handler"])
        handler.setLevel(spec["level"])
        formatter = spec["formatter"]
        if formatter is not None and formatter[0] == "standard":
            handler.setFormatter(logging.Formatter(formatter[1], formatter[2], formatter[3]))
        elif formatter is not None:
            handler.setFormatter(pickle.loads(formatter[1]))
        for item in _loads_items(spec["filters"]):
            handler.addFilter(item)
        return handler
    except Exception as error:
        _log("parent's logging handler %r left out in this child: %r", spec.get("kind"), error)
        return None


def _rebuild_pickled_handler(logging: "Any", pickled: "Optional[bytes]") -> "Any":
    if pickled is None:
        return None
    kind, state = pickle.loads(pickled)
    handler = kind.__new__(kind)
    handler.__dict__.update(state)
    handler.createLock()
    add_reference = getattr(logging, "_addHandlerRef", None)
    if add_reference is not None:  # flushed and closed at exit, as the child's own
        add_reference(handler)
    return handler


def _log(message: str, *args: "Any") -> None:
    from spawnfix.diagnostics import log_decision

    log_decision(message, *args)
