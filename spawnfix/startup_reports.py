"""What a pool worker tells its parent about its startup (the worker side of the watchdog).

This module is imported in every pool and executor worker of a watched pool, when the
worker unpickles its preparation data and its target, so it imports nothing from spawnfix
and nothing that a worker has not imported already. The parent side, which counts the
deaths and stops the pool, is ``spawnfix.pool_watchdog``.

- ``StartupWatch`` wraps the pool's initializer and carries the pool's report pipe;
- ``watched_worker`` replaces ``multiprocessing.pool.worker`` and reports when the worker
  received its first message from the pool (it got going), or why it died before that;
- ``StartupReporter`` travels in the hand-off and installs a ``sys.excepthook``
  that reports a failure before the worker function runs (re-running the main script,
  unpickling the process object), then prints as the standard library does.
"""

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

# One message must fit in a single atomic pipe write (PIPE_BUF is at least 512; 4096 on
# Linux), so that workers writing at once never interleave.
MESSAGE_LIMIT = 3500

STARTED = "started"
FAILED = "failed"

PHASE_BOOTSTRAP = "bootstrap"
PHASE_INITIALIZER = "initializer"
PHASE_FIRST_TASK = "first task"


class StartupWatch:
    """The pool's initializer, wrapped; it also carries the pool's report pipe.

    Pickled for each worker (as the initializer always is): only the user's initializer
    travels; the pipe's write end reaches the worker in its preparation data (a ``fork``
    worker inherits it), and the parent-side bookkeeping stays behind.
    """

    def __init__(self, initializer: "Optional[Callable[..., Any]]", pool: "Any", context: "Any"):
        import threading
        import weakref

        self.initializer = initializer
        self.reader, self.writer = context.Pipe(duplex=False)
        # Parent side only.
        self.pool_ref = weakref.ref(pool)
        self.got_going = False
        # Exit code of each worker that died before any got going, by pid, in order.
        self.startup_exits: dict[int, int] = {}
        self.failures: dict[int, dict[str, Any]] = {}
        self.error: Optional[BaseException] = None
        # Pool.__init__ has returned (set by the building thread, under ``lock``, which
        # also orders it with the worker-handler thread's decision to stop the pool).
        self.built = False
        self.lock = threading.Lock()

    def __getstate__(self) -> "dict[str, Any]":
        # The pipe travels once per launch, in the preparation data (StartupReporter): a
        # second copy of the same descriptor makes spawn's fds_to_keep invalid.
        return {"initializer": self.initializer}

    def __setstate__(self, state: "dict[str, Any]") -> None:
        self.__dict__.update(state)
        self.writer = _child_writer

    def __call__(self, *initargs: "Any") -> None:
        if self.initializer is None:
            return
        try:
            self.initializer(*initargs)
        except BaseException as error:
            self.report_failure(error, PHASE_INITIALIZER)
            raise

    def report_started(self) -> None:
        """Child: tell the parent this worker got going (received a message)."""
        _send(self.writer, (STARTED, os.getpid(), None))

    def report_failure(self, error: BaseException, phase: str) -> None:
        """Child: tell the parent why this worker is dying during startup."""
        _send(self.writer, (FAILED, os.getpid(), describe_failure(error, phase)))


def _send(writer: "Any", message: tuple) -> None:
    try:
        import pickle

        payload = pickle.dumps(message)
        if len(payload) > MESSAGE_LIMIT:
            kind, pid, failure = message
            failure = dict(failure, traceback=failure["traceback"][-1000:])
            failure["message"] = failure["message"][:1000]
            payload = pickle.dumps((kind, pid, failure))
        writer.send_bytes(payload)
    except Exception:
        pass  # never let reporting change how the worker behaves


def describe_failure(
    error: BaseException, phase: str, main_path: "Optional[str]" = None
) -> "dict[str, Any]":
    """What the parent needs to explain a worker's death: type, message, where, when."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1] if frames else None
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {
        "type": type(error).__name__,
        "message": str(error),
        "filename": where.filename if where else None,
        "lineno": where.lineno if where else None,
        "traceback": text[-2500:],
        "phase": phase,
        "main": main_path or getattr(sys.modules.get("__main__"), "__file__", None),
    }


class StartupReporter:
    """Travels in a pool worker's hand-off; ``install`` (a step of the child's start,
    ``spawnfix.child_start``) sets a ``sys.excepthook`` that reports a failure before the
    worker function runs."""

    __slots__ = ("main_path", "writer")

    def __init__(self, writer: "Any", main_path: "Optional[str]") -> None:
        self.writer = writer
        self.main_path = main_path

    def __reduce__(self) -> "Any":
        return (StartupReporter, (self.writer, self.main_path))

    def install(self) -> None:
        _install_startup_excepthook(self.writer, self.main_path)


# Child: the report pipe received in the hand-off, for the StartupWatch unpickled with
# the process object.
_child_writer: "Any" = None


def _install_startup_excepthook(writer: "Any", main_path: "Optional[str]") -> None:
    global _child_writer
    _child_writer = writer
    previous = sys.excepthook

    def report_then_print(kind: "Any", error: BaseException, traceback: "Any") -> None:
        if isinstance(error, Exception):
            failure = describe_failure(error, PHASE_BOOTSTRAP, main_path)
            _send(writer, (FAILED, os.getpid(), failure))
        previous(kind, error, traceback)

    sys.excepthook = report_then_print


def watched_worker(
    inqueue: "Any",
    outqueue: "Any",
    initializer: "Any" = None,
    initargs: tuple = (),
    maxtasks: "Optional[int]" = None,
    wrap_exception: bool = False,
) -> "Any":
    """Child: the standard pool worker, reporting whether it got going."""
    worker = _stdlib_worker()
    if not isinstance(initializer, StartupWatch):
        return worker(inqueue, outqueue, initializer, initargs, maxtasks, wrap_exception)
    _report_first_message(inqueue, initializer)
    return worker(inqueue, outqueue, initializer, initargs, maxtasks, wrap_exception)


def _report_first_message(inqueue: "Any", watch: StartupWatch) -> None:
    # worker() binds ``get = inqueue.get`` before it runs the initializer, so the first
    # message is observed by shadowing ``get`` on this queue object; worker() keeps
    # calling this function, which reports once.
    original_get = inqueue.get
    reported = []

    def get() -> "Any":
        if reported:
            return original_get()
        try:
            message = original_get()
        except (EOFError, OSError):
            raise
        except BaseException as error:
            watch.report_failure(error, PHASE_FIRST_TASK)
            raise
        reported.append(True)
        watch.report_started()
        return message

    inqueue.get = get


def _stdlib_worker() -> "Callable[..., Any]":
    import multiprocessing.pool

    worker = multiprocessing.pool.worker
    return getattr(worker, "__wrapped__", worker)
