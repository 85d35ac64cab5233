"""The Pool watchdog: a Pool whose workers cannot start fails fast, with the cause.

``multiprocessing.Pool`` replaces every worker that exits, without limit. When each worker
dies while starting (re-running the main script, unpickling what it must run, its
``initializer``, or unpickling its first task), the parent respawns workers forever and
hangs. This module is the parent side of the fix; ``spawnfix.startup_reports`` is what
the workers run:

- ``Pool.__init__``: the pool's ``initializer`` is wrapped in a ``StartupWatch`` that
  carries the read and write ends of a pipe (one per pool); the standard library hands it
  to every worker as it would hand the user's initializer. ``multiprocessing.pool.worker``
  becomes ``watched_worker``, and each worker launch gets a ``StartupReporter`` in its
  hand-off (``add_startup_reporter``, called by ``spawnfix.mp_hooks``).
- ``Pool._maintain_pool`` (the worker-handler thread, woken by every worker exit): when
  ``STARTUP_DEATHS_TO_STOP`` workers have died of a failure that every replacement meets
  again (before the user's code ran: re-running the main script, unpickling the process
  object or the first task) and none has ever got going, the pool's pending calls fail
  with ``WorkerStartupError`` carrying the worker's own exception, later calls raise it
  too (``_check_running``), and the pool is terminated. A failure in the pool's own
  ``initializer`` is left to the standard library, which replaces the worker: a transient
  one recovers there (``watch_stops_pool``).
- ``ProcessPoolExecutor`` already stops with ``BrokenProcessPool``, but loses the worker's
  exception; ``install_executor`` gives it back as the ``__cause__`` (Python 3.9+).

A pool whose workers got going once keeps the standard behaviour for good (a worker killed
later is replaced as usual). Applies to ``multiprocessing.pool.Pool`` and subclasses that
keep its initializer and maintenance path (``torch.multiprocessing`` pools), for every start
method; not to ``ThreadPool``, nor to the ``multiprocess`` and ``billiard`` pools. A pool
started in a spawned child gets no ``StartupReporter`` (the parent-side patch is not
installed there): it is still stopped, with the exit codes but without the exception.
"""

import sys

from spawnfix.diagnostics import log_decision
from spawnfix.startup_reports import (
    PHASE_INITIALIZER,
    STARTED,
    StartupReporter,
    StartupWatch,
    watched_worker,
)

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

    from spawnfix.handoff import Handoff

# Three workers in a row: one early death can be a one-off (a file read while another
# process rewrites it), two can still be chance on a loaded machine; three deaths with no
# worker ever getting going is the same failure repeating, reached within seconds.
STARTUP_DEATHS_TO_STOP = 3

# The replacements made in the pool module and for executors (spawnfix.private_api.Patches), for
# ``uninstall`` and ``uninstall_executor``.
_patched: "Any" = None
_executor_patched: "Any" = None


def add_startup_reporter(data: "dict[str, Any]", handoff: "Handoff", process_obj: "Any") -> None:
    """Parent: if ``process_obj`` is a watched pool worker, its hand-off gets a
    ``StartupReporter`` (called from the ``get_preparation_data`` hook with the launch's
    preparation ``data``)."""
    for argument in getattr(process_obj, "_args", ()) or ():
        if isinstance(argument, StartupWatch):
            main = data.get("init_main_from_path") or _module_origin(data)
            handoff.report = StartupReporter(argument.writer, main)
            return


def _module_origin(data: "dict[str, Any]") -> "Optional[str]":
    # ``python -m pkg.train``: the child re-runs the module the parent runs as __main__.
    if data.get("init_main_from_name") is None:
        return None
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "origin", None)


def install(pool_module: "Any") -> None:
    """Patch ``pool_module`` (``multiprocessing.pool``); a second call is a no-op."""
    global _patched
    if _patched:
        return
    from spawnfix.private_api import expects

    pool_class = pool_module.Pool
    if not (
        expects(pool_module.worker, "multiprocessing.pool:worker")
        and expects(pool_class._maintain_pool, "multiprocessing.pool:Pool._maintain_pool")
        and expects(pool_class._check_running, "multiprocessing.pool:Pool._check_running")
    ):
        return
    thread_pool_class = getattr(pool_module, "ThreadPool", None)
    original_init = pool_class.__init__
    original_maintain = pool_class.__dict__["_maintain_pool"].__func__
    original_check_running = pool_class._check_running

    def __init__(
        self: "Any", processes: "Any" = None, initializer: "Any" = None, *args: "Any", **kw: "Any"
    ):
        if thread_pool_class is None or not isinstance(self, thread_pool_class):
            try:
                context = kw.get("context") or (args[2] if len(args) > 2 else None)
                context = context or _default_context(pool_module)
                if initializer is None or callable(initializer):
                    initializer = StartupWatch(initializer, self, context)
            except Exception as error:  # fail open: the pool works as without spawnfix
                log_decision("pool watchdog not set up: %r", error)
        original_init(self, processes, initializer, *args, **kw)
        if isinstance(initializer, StartupWatch):
            pool_built(initializer, self)

    def _maintain_pool(
        ctx: "Any",
        Process: "Any",
        processes: int,
        pool: "list",
        inqueue: "Any",
        outqueue: "Any",
        initializer: "Any",
        *rest: "Any",
    ) -> None:
        if isinstance(initializer, StartupWatch):
            try:
                if watch_stops_pool(initializer, pool):
                    return
            except Exception as error:  # fail open: keep the standard behaviour
                log_decision("pool watchdog check failed: %r", error)
            if not initializer.got_going:
                replace_dead_workers(
                    pool_class, ctx, Process, pool, inqueue, outqueue, initializer, *rest
                )
                return
        original_maintain(ctx, Process, processes, pool, inqueue, outqueue, initializer, *rest)

    def _check_running(self: "Any") -> None:
        error = getattr(self._initializer, "error", None)
        if isinstance(self._initializer, StartupWatch) and error is not None:
            raise error
        original_check_running(self)

    from spawnfix.private_api import Patches

    patches = Patches()
    patches.replace(pool_class, "__init__", __init__)
    patches.replace(pool_class, "_maintain_pool", staticmethod(_maintain_pool))
    patches.replace(pool_class, "_check_running", _check_running)
    # The worker function travels by reference (spawnfix.startup_reports.watched_worker);
    # __wrapped__ lets the child reach the standard library's function.
    patches.replace(pool_module, "worker", watched_worker)
    _patched = patches
    log_decision("patched %s.Pool (startup watchdog)", pool_module.__name__)


def uninstall() -> None:
    """Restore ``Pool.__init__``, ``_maintain_pool``, ``_check_running`` and ``worker``."""
    if _patched:
        _patched.undo()


def replace_dead_workers(
    pool_class: "Any", ctx: "Any", Process: "Any", pool: "list", *args: "Any"
) -> None:
    """``_maintain_pool`` for a pool whose workers have not got going: start the
    replacements first, then remove the dead workers, so that ``len(pool)`` never drops
    to zero while the program divides by it (``map`` computes its chunk size from it;
    the standard library has that race too, but only workers that die at once hit it)."""
    dead = [worker for worker in pool if worker.exitcode is not None]
    if not dead:
        return
    fresh: list = []
    pool_class._repopulate_pool_static(ctx, Process, len(dead), fresh, *args)
    pool.extend(fresh)
    for worker in dead:
        worker.join()
        pool.remove(worker)


def _default_context(pool_module: "Any") -> "Any":
    # Pool(context=None) uses the default context, as Pool.__init__ does.
    return pool_module.get_context()


def watch_stops_pool(watch: "StartupWatch", workers: "list") -> bool:
    """Parent, worker-handler thread: count the workers that died during startup of a
    failure that repeats in every replacement, and stop the pool when they keep dying.
    True once stopped.

    The rule: a death counts when the worker failed before the user's code ran (re-running
    the main script, unpickling the process object or its first task), or exited non-zero
    without a report; a failure inside the pool's own ``initializer`` never counts, nor a
    worker killed by a signal. The standard library replaces such workers and a transient
    failure (a connection refused three times) recovers, so spawnfix leaves them alone.
    """
    if watch.error is not None:
        return True
    # Exit codes first, reports second: a worker writes its report before it exits, so
    # every worker seen dead here has its report in the pipe when it is read.
    dead = [
        (worker.pid, worker.exitcode)
        for worker in workers
        if worker.exitcode not in (None, 0) and worker.pid not in watch.startup_exits
    ]
    _read_reports(watch)
    if watch.got_going:
        return False
    for pid, code in dead:
        failure = watch.failures.get(pid)
        phase = failure["phase"] if failure else None
        if phase == PHASE_INITIALIZER or (failure is None and code < 0):
            log_decision(
                "pool worker %s exited with code %s in %s: left to the standard library",
                pid,
                code,
                phase or "a signal",
            )
            continue
        watch.startup_exits[pid] = code
        log_decision(
            "pool worker %s exited with code %s before it got going (%d in a row)",
            pid,
            code,
            len(watch.startup_exits),
        )
    if len(watch.startup_exits) < STARTUP_DEATHS_TO_STOP:
        return False
    _stop_pool(watch, workers)
    return True


def _read_reports(watch: "StartupWatch") -> None:
    import pickle

    while watch.reader.poll():
        kind, pid, failure = pickle.loads(watch.reader.recv_bytes())
        if kind == STARTED:
            watch.got_going = True
            log_decision("pool worker %s got going: the startup watchdog stands down", pid)
        else:
            watch.failures[pid] = failure


def _stop_pool(watch: "StartupWatch", workers: "list") -> None:
    from spawnfix import messages
    from spawnfix.errors import WorkerStartupError

    last_failure = _last_failure(watch, workers)
    error = WorkerStartupError(
        messages.worker_startup_failure(list(watch.startup_exits.values()), last_failure)
    )
    watch.error = error
    log_decision("pool stopped by the startup watchdog: %s", error)
    pool = watch.pool_ref()
    if pool is None:
        return
    _fail_pending_calls(pool, error)
    with watch.lock:
        # The worker-handler thread starts before Pool.__init__ has finished (fork
        # workers can die three times by then): such a pool is stopped by ``pool_built``.
        if not watch.built:
            return
    _terminate_in_background(pool)


def pool_built(watch: "StartupWatch", pool: "Any") -> None:
    """Parent, the thread that built the pool, once ``Pool.__init__`` has returned: from
    now on the watchdog may terminate the pool; if it already decided to, do it now."""
    with watch.lock:
        watch.built = True
        stop_now = watch.error is not None
    if stop_now:
        log_decision("pool stopped by the startup watchdog as soon as it was built")
        _terminate_in_background(pool)


def _terminate_in_background(pool: "Any") -> None:
    import threading

    def terminate() -> None:
        try:
            pool.terminate()
        except Exception as error:  # never a traceback from spawnfix's own thread
            log_decision("terminating the stopped pool failed: %r", error)

    # terminate() joins the worker-handler thread, which may be the one running this.
    threading.Thread(target=terminate, name="spawnfix-pool-terminate").start()


def _last_failure(watch: "StartupWatch", workers: "list") -> "Optional[dict[str, Any]]":
    for worker in reversed(workers):
        if worker.pid in watch.failures:
            return watch.failures[worker.pid]
    return next(reversed(watch.failures.values()), None) if watch.failures else None


def _fail_pending_calls(pool: "Any", error: "BaseException") -> None:
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


# ProcessPoolExecutor: the standard library already stops (BrokenProcessPool), but without
# the worker's exception. The same StartupWatch carries it to the parent.

# The process module patched and the originals replaced there, for ``uninstall_executor``.


def install_executor(process_module: "Any") -> None:
    """Patch ``concurrent.futures.process`` so that ``BrokenProcessPool`` gets the
    worker's startup exception as its ``__cause__`` (Python 3.9+; 3.8 has no manager
    class to patch and is left alone). A second call is a no-op."""
    global _executor_patched
    manager_class = getattr(process_module, "_ExecutorManagerThread", None)
    if _executor_patched or manager_class is None:
        return
    from spawnfix.private_api import expects

    key = "concurrent.futures.process:_ExecutorManagerThread.terminate_broken"
    if not expects(manager_class.terminate_broken, key):
        return
    executor_class = process_module.ProcessPoolExecutor
    original_init = executor_class.__init__
    original_terminate_broken = manager_class.terminate_broken

    def __init__(self: "Any", *args: "Any", **kwargs: "Any") -> None:
        original_init(self, *args, **kwargs)
        try:
            self._initializer = StartupWatch(self._initializer, self, self._mp_context)
        except Exception as error:  # fail open: the executor works as without spawnfix
            log_decision("executor startup reports not set up: %r", error)

    def terminate_broken(self: "Any", cause: "Any" = None, *args: "Any", **kwargs: "Any") -> "Any":
        # Arguments pass through as received: 3.14 added ``bpe_message``.
        ours = None
        if cause is None:
            try:
                cause = ours = _executor_startup_cause(self)
            except Exception as error:  # fail open: the standard library's error
                log_decision("no startup cause for BrokenProcessPool: %r", error)
        wrapped = _name_cause_before_futures_fail(self, ours) if ours else []
        try:
            return original_terminate_broken(self, cause, *args, **kwargs)
        finally:
            for future in wrapped:  # nothing of the manager stays referenced by them
                vars(future).pop("set_exception", None)
            if ours:
                _name_cause_in_broken_message(self.executor_reference, ours)

    from spawnfix.private_api import Patches

    patches = Patches()
    patches.replace(executor_class, "__init__", __init__)
    patches.replace(manager_class, "terminate_broken", terminate_broken)
    _executor_patched = patches
    log_decision("patched %s.ProcessPoolExecutor (startup reports)", process_module.__name__)


def uninstall_executor() -> None:
    """Restore ``ProcessPoolExecutor.__init__`` and ``terminate_broken``."""
    if _executor_patched:
        _executor_patched.undo()


def _name_cause_before_futures_fail(manager: "Any", cause: "list[str]") -> "list[Any]":
    # terminate_broken sets the executor's message, then fails the pending futures, which
    # wakes the program: the message gets the cause before the first future fails, so a
    # submit() the program makes then already sees it. Returns the futures given a
    # stand-in set_exception (removed once terminate_broken is done).
    wrapped = []
    try:
        executor_reference = manager.executor_reference  # a weak reference
        for work_item in list(manager.pending_work_items.values()):
            future = work_item.future
            set_exception = future.set_exception

            def naming_first(exception: "Any", set_exception: "Any" = set_exception) -> "Any":
                _name_cause_in_broken_message(executor_reference, cause)
                return set_exception(exception)

            future.set_exception = naming_first
            wrapped.append(future)
    except Exception as error:  # fail open: named after terminate_broken instead
        log_decision("BrokenProcessPool message named late: %r", error)
    return wrapped


def _name_cause_in_broken_message(executor_reference: "Any", cause: "list[str]") -> None:
    # A submit() after the break raises BrokenProcessPool(executor._broken), a message
    # without a cause: the message then ends with the worker's header and exception line.
    try:
        executor = executor_reference()
        broken = getattr(executor, "_broken", None)
        if isinstance(broken, str) and cause[0].rstrip() not in broken:
            lines = [line for line in cause[1].splitlines() if line.strip()]
            executor._broken = f"{broken}\n{cause[0].rstrip()}\n{lines[-1] if lines else ''}"
    except Exception as error:  # fail open: the standard library's message
        log_decision("BrokenProcessPool message left as is: %r", error)


def _executor_startup_cause(manager: "Any") -> "Optional[list[str]]":
    executor = manager.executor_reference()
    watch = getattr(executor, "_initializer", None)
    if not isinstance(watch, StartupWatch):
        return None
    _read_reports(watch)
    if not watch.failures:
        return None
    pid, failure = next(reversed(list(watch.failures.items())))
    from spawnfix import messages

    header = messages.executor_startup_cause(pid, failure)
    return [header, failure["traceback"]]
