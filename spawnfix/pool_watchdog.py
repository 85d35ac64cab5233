"""The Pool watchdog: a Pool whose workers cannot start fails fast, with the cause.

``multiprocessing.Pool`` replaces every worker that exits, without limit. When each worker
dies while starting (re-running the main script, unpickling what it must run, its
``initializer``, or unpickling its first task), the parent respawns workers forever and
hangs. This module stops that loop:

- Parent, ``Pool.__init__``: the pool's ``initializer`` is wrapped in a ``StartupWatch``
  that carries the write end of a pipe (one per pool); the standard library hands it to
  every worker as it would hand the user's initializer.
- Child: ``multiprocessing.pool.worker`` is replaced by ``watched_worker``, which reports
  on that pipe when the worker has received its first message from the pool (it got
  going) or why it died before that (``initializer``, or a task it could not unpickle).
  A failure earlier still (re-running the main script, unpickling the process object) is
  reported by a ``sys.excepthook`` installed from the preparation data
  (``add_startup_reporter``), which then lets the standard library print as usual.
- Parent, ``Pool._maintain_pool`` (the worker-handler thread, woken by every worker exit):
  when ``STARTUP_DEATHS_TO_STOP`` workers have exited with a non-zero code and none has
  ever got going, the pool's pending calls fail with ``WorkerStartupError`` carrying the
  child's own exception, later calls raise it too, and the pool is terminated.

A pool whose workers got going once keeps the standard behaviour for good (a worker killed
later is replaced as usual). Applies to ``multiprocessing.pool.Pool`` and subclasses that
keep its initializer and maintenance path (``torch.multiprocessing`` pools), for every start
method; not to ``ThreadPool``, nor to the ``multiprocess`` and ``billiard`` pools.
"""

from __future__ import annotations

import os
import sys
import weakref

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

# Three workers in a row: one early death can be a one-off (a worker killed by the user or
# the OOM killer while importing), two can still be chance on a loaded machine; three
# deaths with no worker ever getting going is the same failure repeating, and it is
# reached within a second or two of starting any pool.
STARTUP_DEATHS_TO_STOP = 3
# One message must fit in a single atomic pipe write (PIPE_BUF is at least 512; 4096 on
# Linux), so that workers writing at once never interleave.
MESSAGE_LIMIT = 3500
PREPARATION_KEY = "spawnfix_startup_report"

STARTED = "started"
FAILED = "failed"

PHASE_BOOTSTRAP = "bootstrap"
PHASE_INITIALIZER = "initializer"
PHASE_FIRST_TASK = "first task"

# The pool module patched and the originals replaced there, for ``uninstall``.
_patched: dict[str, Any] = {}


class StartupWatch:
    """The pool's initializer, wrapped; it also carries the pool's report pipe.

    Pickled for each worker (as the initializer always is): only the user's initializer,
    its name and the pipe's write end travel; the parent-side bookkeeping stays behind.
    """

    def __init__(self, initializer: Optional[Callable[..., Any]], pool: Any, context: Any):
        self.initializer = initializer
        self.reader, self.writer = context.Pipe(duplex=False)
        # Parent side only.
        self.pool_ref = weakref.ref(pool)
        self.got_going = False
        self.startup_deaths = 0
        self.counted_pids: set = set()
        self.exit_codes: list[int] = []
        self.failures: dict[int, dict[str, Any]] = {}
        self.error: Optional[BaseException] = None

    def __getstate__(self) -> dict[str, Any]:
        # The pipe travels once per launch, in the preparation data (StartupReporter): a
        # second copy of the same descriptor makes spawn's fds_to_keep invalid.
        return {"initializer": self.initializer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.writer = _child_writer

    def __call__(self, *initargs: Any) -> None:
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


def _send(writer: Any, message: tuple) -> None:
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
    error: BaseException, phase: str, main_path: Optional[str] = None
) -> dict[str, Any]:
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
    """Travels in a pool worker's preparation data; unpickling it in the child installs a
    ``sys.excepthook`` that reports a failure before the worker function runs."""

    def __init__(self, writer: Any, main_path: Optional[str]) -> None:
        self.writer = writer
        self.main_path = main_path

    def __reduce__(self) -> Any:
        return (_install_startup_excepthook, (self.writer, self.main_path))


# Child: the report pipe received in the preparation data, for the StartupWatch unpickled
# right after it with the process object.
_child_writer: Any = None


def _install_startup_excepthook(writer: Any, main_path: Optional[str]) -> StartupReporter:
    global _child_writer
    _child_writer = writer
    previous = sys.excepthook

    def report_then_print(kind: Any, error: BaseException, traceback: Any) -> None:
        if isinstance(error, Exception):
            failure = describe_failure(error, PHASE_BOOTSTRAP, main_path)
            _send(writer, (FAILED, os.getpid(), failure))
        previous(kind, error, traceback)

    sys.excepthook = report_then_print
    return StartupReporter(writer, main_path)


def add_startup_reporter(data: dict[str, Any], process_obj: Any) -> None:
    """Parent: if ``process_obj`` is a watched pool worker, add a ``StartupReporter`` to
    its preparation data (called from the ``get_preparation_data`` hook)."""
    for argument in getattr(process_obj, "_args", ()) or ():
        if isinstance(argument, StartupWatch):
            main = data.get("init_main_from_path") or _module_origin(data)
            data[PREPARATION_KEY] = StartupReporter(argument.writer, main)
            return


def _module_origin(data: dict[str, Any]) -> Optional[str]:
    # ``python -m pkg.train``: the child re-runs the module the parent runs as __main__.
    if data.get("init_main_from_name") is None:
        return None
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "origin", None)


def watched_worker(
    inqueue: Any,
    outqueue: Any,
    initializer: Any = None,
    initargs: tuple = (),
    maxtasks: Optional[int] = None,
    wrap_exception: bool = False,
) -> Any:
    """Child: the standard pool worker, reporting whether it got going."""
    worker = _stdlib_worker()
    if not isinstance(initializer, StartupWatch):
        return worker(inqueue, outqueue, initializer, initargs, maxtasks, wrap_exception)
    _report_first_message(inqueue, initializer)
    return worker(inqueue, outqueue, initializer, initargs, maxtasks, wrap_exception)


def _report_first_message(inqueue: Any, watch: StartupWatch) -> None:
    # worker() binds ``get = inqueue.get`` before it runs the initializer, so the first
    # message is observed by shadowing ``get`` on this queue object.
    original_get = inqueue.get

    def get() -> Any:
        try:
            message = original_get()
        except (EOFError, OSError):
            raise
        except BaseException as error:
            watch.report_failure(error, PHASE_FIRST_TASK)
            raise
        inqueue.get = original_get
        watch.report_started()
        return message

    inqueue.get = get


def _stdlib_worker() -> Callable[..., Any]:
    import multiprocessing.pool

    worker = multiprocessing.pool.worker
    return getattr(worker, "__wrapped__", worker)


def install(pool_module: Any) -> None:
    """Patch ``pool_module`` (``multiprocessing.pool``); a second call is a no-op."""
    if _patched:
        return
    pool_class = pool_module.Pool
    thread_pool_class = getattr(pool_module, "ThreadPool", None)
    original_init = pool_class.__init__
    original_maintain = pool_class.__dict__["_maintain_pool"].__func__
    original_check_running = pool_class._check_running
    original_worker = pool_module.worker

    def __init__(self: Any, processes: Any = None, initializer: Any = None, *args: Any, **kw: Any):
        if thread_pool_class is None or not isinstance(self, thread_pool_class):
            try:
                context = kw.get("context") or (args[2] if len(args) > 2 else None)
                context = context or _default_context(pool_module)
                if initializer is None or callable(initializer):
                    initializer = StartupWatch(initializer, self, context)
            except Exception as error:  # fail open: the pool works as without spawnfix
                log_decision("pool watchdog not set up: %r", error)
        original_init(self, processes, initializer, *args, **kw)

    def _maintain_pool(
        ctx: Any,
        Process: Any,
        processes: int,
        pool: list,
        inqueue: Any,
        outqueue: Any,
        initializer: Any,
        *rest: Any,
    ) -> None:
        if isinstance(initializer, StartupWatch):
            try:
                if watch_stops_pool(initializer, pool):
                    return
            except Exception as error:  # fail open: keep the standard behaviour
                log_decision("pool watchdog check failed: %r", error)
        original_maintain(ctx, Process, processes, pool, inqueue, outqueue, initializer, *rest)

    def _check_running(self: Any) -> None:
        error = getattr(self._initializer, "error", None)
        if isinstance(self._initializer, StartupWatch) and error is not None:
            raise error
        original_check_running(self)

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    _check_running.__wrapped__ = original_check_running  # type: ignore[attr-defined]
    pool_class.__init__ = __init__
    pool_class._maintain_pool = staticmethod(_maintain_pool)
    pool_class._check_running = _check_running
    # The worker function travels by reference (spawnfix.pool_watchdog.watched_worker);
    # __wrapped__ lets the child reach the standard library's function.
    watched_worker.__wrapped__ = original_worker  # type: ignore[attr-defined]
    pool_module.worker = watched_worker
    _patched.update(
        module=pool_module,
        init=original_init,
        maintain=pool_class.__dict__["_maintain_pool"],
        original_maintain=original_maintain,
        check_running=original_check_running,
        worker=original_worker,
    )
    log_decision("patched %s.Pool (startup watchdog)", pool_module.__name__)


def uninstall() -> None:
    """Restore ``Pool.__init__``, ``_maintain_pool``, ``_check_running`` and ``worker``."""
    if not _patched:
        return
    pool_module = _patched["module"]
    pool_class = pool_module.Pool
    pool_class.__init__ = _patched["init"]
    pool_class._maintain_pool = staticmethod(_patched["original_maintain"])
    pool_class._check_running = _patched["check_running"]
    pool_module.worker = _patched["worker"]
    _patched.clear()


def _default_context(pool_module: Any) -> Any:
    # Pool(context=None) uses the default context, as Pool.__init__ does.
    return pool_module.get_context()


def watch_stops_pool(watch: StartupWatch, workers: list) -> bool:
    """Parent, worker-handler thread: read the workers' reports, count the workers that
    died during startup, and stop the pool when they keep dying. True once stopped."""
    if watch.error is not None:
        return True
    _read_reports(watch)
    if watch.got_going:
        return False
    for worker in workers:
        code = worker.exitcode
        if code is None or code == 0 or worker.pid in watch.counted_pids:
            continue
        watch.counted_pids.add(worker.pid)
        watch.exit_codes.append(code)
        watch.startup_deaths += 1
        log_decision(
            "pool worker %s exited with code %s before it got going (%d in a row)",
            worker.pid,
            code,
            watch.startup_deaths,
        )
    if watch.startup_deaths < STARTUP_DEATHS_TO_STOP:
        return False
    _stop_pool(watch, workers)
    return True


def _read_reports(watch: StartupWatch) -> None:
    import pickle

    while watch.reader.poll():
        kind, pid, failure = pickle.loads(watch.reader.recv_bytes())
        if kind == STARTED:
            watch.got_going = True
            log_decision("pool worker %s got going: the startup watchdog stands down", pid)
        else:
            watch.failures[pid] = failure


def _stop_pool(watch: StartupWatch, workers: list) -> None:
    from spawnfix import messages
    from spawnfix.errors import WorkerStartupError

    last_failure = _last_failure(watch, workers)
    error = WorkerStartupError(
        messages.worker_startup_failure(watch.startup_deaths, watch.exit_codes, last_failure)
    )
    watch.error = error
    log_decision("pool stopped by the startup watchdog: %s", error)
    pool = watch.pool_ref()
    if pool is None:
        return
    _fail_pending_calls(pool, error)
    import threading

    # terminate() joins the worker-handler thread, which is the one running this.
    threading.Thread(target=pool.terminate, name="spawnfix-pool-terminate").start()


def _last_failure(watch: StartupWatch, workers: list) -> Optional[dict[str, Any]]:
    for worker in reversed(workers):
        if worker.pid in watch.failures:
            return watch.failures[worker.pid]
    return next(reversed(watch.failures.values()), None) if watch.failures else None


def _fail_pending_calls(pool: Any, error: BaseException) -> None:
    from multiprocessing import pool as pool_module

    cache = pool._cache
    for job_id, job in list(cache.items()):
        try:
            if isinstance(job, pool_module.IMapIterator):
                job._set(job._index, (False, error))
            else:
                if isinstance(job, pool_module.MapResult):
                    job._number_left = 1
                job._set(0, (False, error))
        except Exception as failure:
            log_decision("could not fail pending pool call %r: %r", job, failure)
        cache.pop(job_id, None)
