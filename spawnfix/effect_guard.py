"""A child's re-run of the main script without effects on the world: the parent had them.

Under ``fork`` a child never runs the parent's top-level code again. When a spawn or
forkserver child must re-run part of the main script to get its definitions
(``spawnfix.rerun``), the statements it still runs do so inside ``quiet_rerun()``:

- **Output is muted.** ``sys.stdout`` and ``sys.stderr`` are replaced by a ``MutedStream``
  that drops what is written while the re-run lasts and forwards everything afterwards, so
  a handler created meanwhile (``logging.basicConfig()`` stores ``sys.stderr``) writes to
  the real stream later, not into the void.
- **Changes to the world are refused** inside the statements that ``refusing_effects()``
  wraps (every top-level statement but imports): an audit hook (PEP 578) raises
  ``EffectRefused``, a ``PermissionError``, for opening a file for writing, creating,
  deleting or renaming files and folders, changing the working directory or the
  environment (setting a variable to the value it has is no change, and allowed),
  starting a subprocess and connecting a socket. The statement fails there and
  the re-run skips it, as it skips any statement that raises. Reading files is allowed;
  a file opened with ``"w"``, ``"a"`` or ``"x"`` is opened for appending and written to
  ``os.devnull`` until the re-run ends (``spawnfix.rerun_files``); an sqlite database that
  exists is connected to read-only until then (``spawnfix.rerun_databases``).

An audit hook cannot be removed: it stays for the child's life, and after the re-run it
returns at its first test. Imports are not refused anything (a module may write its
bytecode cache; library state set up at import is what fork would have given the child).
Effects of C code that raises no audit event (a C extension's own ``fopen``) are not seen.

- **The parent's shared objects are not written to** inside those statements: a put into
  a ``multiprocessing`` queue or a change through a manager proxy is refused
  (``spawnfix.shared_writes``): a top-level helper that fills the parent's queue would
  fill it again from every child.
- **Semaphores are given back.** A statement stopped at its process start (a ``Pool``
  built up to its first worker) has already registered its queues' semaphores with the
  parent's resource tracker. ``releasing_abandoned_semaphores()`` collects what the re-run
  abandoned as soon as it ends, so their finalizers unregister them (SIGTERM waits until
  then); left to the worker's exit, a worker the parent terminates never does, and the
  parent's tracker reports them as "leaked semaphore objects" when the program ends.
"""

import _thread
import os
import sys
from contextlib import contextmanager

from spawnfix import rerun_state

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Optional

# Audit events that change the world outside the process (besides "open" for writing).
_REFUSED_EVENTS = frozenset(
    {
        "os.chdir",
        "os.chmod",
        "os.chown",
        "os.kill",
        "os.link",
        "os.mkdir",
        "os.posix_spawn",
        "os.putenv",
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.spawn",
        "os.symlink",
        "os.system",
        "os.exec",
        "os.truncate",
        "os.unsetenv",
        "os.utime",
        "shutil.chown",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.make_archive",
        "shutil.move",
        "shutil.rmtree",
        "shutil.unpack_archive",
        "socket.bind",
        "socket.connect",
        "socket.sendto",
        "sqlite3.connect",
        "subprocess.Popen",
        "webbrowser.open",
    }
)
_WRITE_MODE_LETTERS = ("w", "a", "x", "+")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# The threads whose statements are refused effects now (``refusing_effects``). During the
# main script's re-run every thread is refused while one is (a thread a re-run statement
# starts would repeat the parent's work); during a user module's import after it
# (``quiet_rerun(main=False)``) only the importing thread: the child's own threads work on.
_refusing: "set[int]" = set()
_every_thread = False
_hook_installed = False


class EffectRefused(PermissionError):
    """Raised inside a child's re-run where a statement would change the world again.

    A ``PermissionError`` so that code which expects ``OSError`` from file operations
    (``importlib``'s bytecode cache, ``try: os.makedirs(...) except OSError``) handles it.
    """


class MutedStream:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: silent while muted, then a
    transparent forwarder to the real stream."""

    def __init__(self, real: "Any", thread: "Optional[int]" = None) -> None:
        self._real = real
        self.muted = True
        self._thread = thread  # only this thread is muted (None: every thread)

    def write(self, text: "Any") -> int:
        """Drop ``text`` while muted; afterwards write it to the real stream."""
        if self.muted and (self._thread is None or self._thread == _thread.get_ident()):
            return len(text)
        return self._real.write(text)

    def writelines(self, lines: "Any") -> None:
        """Like ``write`` for each line."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the real stream once output flows again."""
        if not self.muted and self._real is not None:
            self._real.flush()

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._real, name)


def _refuse_effects(event: str, args: "tuple[Any, ...]") -> None:
    if not _refusing or not (_every_thread or _thread.get_ident() in _refusing):
        return
    if event == "open":
        path, mode, flags = args[0], args[1], args[2]
        if path is None or isinstance(path, int):
            return
        if isinstance(mode, str):
            if not any(letter in mode for letter in _WRITE_MODE_LETTERS):
                return
        elif not (isinstance(flags, int) and flags & _WRITE_FLAGS):
            return
    elif event not in _REFUSED_EVENTS:
        return
    elif event in ("os.putenv", "os.unsetenv") and _environment_unchanged(event, args):
        return  # the child's environment already is the parent's: setting it again is no change
    elif event == "os.utime" and _touches_existing_file(args):
        return  # Path.touch(exist_ok=True) of a file that is there (dbm.sqlite3): no data changes
    raise EffectRefused(f"spawnfix: the parent already did this ({event}); a child does not")


def _environment_unchanged(event: str, args: "tuple[Any, ...]") -> bool:
    # A re-run statement that sets a variable to the value the child has (the parent's,
    # at start()) changes nothing; refusing it would cost the rest of the statement
    # (mlflow.set_tracking_uri sets its module's state, then the variable).
    try:
        environ = os.environb if isinstance(args[0], bytes) else os.environ
        if event == "os.unsetenv":
            return args[0] not in environ
        return environ.get(args[0]) == args[1]
    except Exception:
        return False


def _touches_existing_file(args: "tuple[Any, ...]") -> bool:
    # os.utime(path, None): the modification time set to now, of a file that exists.
    try:
        path, times, ns = args[0], args[1], args[2]
        return (
            times is None and ns is None and isinstance(path, (str, bytes)) and os.path.isfile(path)
        )
    except Exception:
        return False


def refusing() -> bool:
    """Whether effects are being refused now on this thread (inside ``refusing_effects()``)."""
    return bool(_refusing) and (_every_thread or _thread.get_ident() in _refusing)


@contextmanager
def quiet_rerun(main: bool = True) -> "Iterator[None]":
    """Mute ``sys.stdout``/``sys.stderr`` for the re-run; install the refusal hook.

    ``main=False``: a user module's import outside the main script's re-run
    (``spawnfix.quiet_imports``): only the importing thread is muted, and a re-run still
    expected stays expected (what runs after it waits for it). Inside a re-run this adds
    nothing."""
    global _hook_installed, _every_thread
    if rerun_state.in_rerun:
        yield
        return
    if not _hook_installed:
        sys.addaudithook(_refuse_effects)
        _hook_installed = True
    real_out, real_err = sys.stdout, sys.stderr
    thread = None if main else _thread.get_ident()
    muted_out, muted_err = MutedStream(real_out, thread), MutedStream(real_err, thread)
    sys.stdout, sys.stderr = muted_out, muted_err
    from spawnfix import rerun_databases, rerun_files, shared_writes

    rerun_files.install(refusing, allowing_effects)
    expected = rerun_state.expected
    rerun_state.in_rerun = True
    _every_thread = main
    try:
        yield
    finally:
        rerun_state.in_rerun = _every_thread = False
        rerun_state.expected = expected and not main
        rerun_files.uninstall()
        shared_writes.restore()
        rerun_databases.restore()
        muted_out.muted = muted_err.muted = False
        # A script that installed its own stream keeps it, as it would have under fork.
        if sys.stdout is muted_out:
            sys.stdout = real_out
        if sys.stderr is muted_err:
            sys.stderr = real_err
        # A user module imported before the main script's re-run: what waits for the
        # re-run's end (the parent's handlers, files opened again) waits on.
        rerun_state.run_waiting()


@contextmanager
def refusing_effects() -> "Iterator[None]":
    """Refuse changes to the world (see the module docstring) for one statement, on the
    calling thread."""
    thread = _thread.get_ident()
    previous = thread in _refusing
    _refusing.add(thread)
    if rerun_state.in_rerun:
        from spawnfix import rerun_databases, shared_writes

        shared_writes.refuse_while(refusing, _refused)
        rerun_databases.connect_read_only_while(
            refusing, allowing_effects, _refused, rerun_state.after_rerun
        )
    try:
        yield
    finally:
        if not previous:
            _refusing.discard(thread)


def _refused(what: str) -> "EffectRefused":
    return EffectRefused(f"spawnfix: the parent already did this ({what}); a child does not")


@contextmanager
def allowing_effects() -> "Iterator[None]":
    """Lift the refusal inside ``refusing_effects()`` for a call spawnfix itself makes
    (wandb's disabled run in a child)."""
    thread = _thread.get_ident()
    previous = thread in _refusing
    _refusing.discard(thread)
    try:
        yield
    finally:
        if previous:
            _refusing.add(thread)


@contextmanager
def releasing_abandoned_semaphores(package: str = "multiprocessing") -> "Iterator[None]":
    """Around a child's re-run: release the semaphores it created and abandoned (see the
    module doc), with one garbage collection, only if it created any.

    From the first such semaphore until they are released, SIGTERM waits: a Pool's
    ``terminate()`` that reaches a worker still starting would otherwise kill it before
    the release (the parent's resource tracker then reports them as leaked); the worker
    ends right after it instead.
    """
    import _thread
    import importlib

    try:
        tracker = importlib.import_module(f"{package}.resource_tracker")
        original = tracker.register
    except (ImportError, AttributeError):
        yield
        return
    from spawnfix.private_api import expects

    if not expects(original, "multiprocessing.resource_tracker:register"):
        yield
        return
    registered: list[str] = []
    mask_before: list[Any] = []
    rerun_thread = _thread.get_ident()

    def register(name: str, rtype: str) -> "Any":
        if not registered and _thread.get_ident() == rerun_thread:
            mask_before.extend(_block_termination())
        registered.append(name)
        return original(name, rtype)

    tracker.register = register
    try:
        yield
    finally:
        tracker.register = original
        if registered:
            import gc

            gc.collect()
        if mask_before:
            import signal

            signal.pthread_sigmask(signal.SIG_SETMASK, mask_before[0])


def _block_termination() -> "list[Any]":
    # The signal mask before SIGTERM was blocked (empty where masks do not exist).
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        return []
    return [signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})]
