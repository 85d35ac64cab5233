"""What a process started from this one now would inherit, to tell whether that changed.

A fork server started ahead of need (``spawnfix.warm_forkserver``) keeps what its parent
was when it started, and so does every child it forks; ``capture`` reads those things in
the parent, ``first_change`` names the first that differs between two captures:

- the umask, all resource limits, the ignored signals (a handler written in Python is not
  inherited across ``exec``, so installing one changes nothing), the calling thread's
  signal mask, the working directory, ``os.environ`` (``SPAWNFIX*`` variables aside:
  spawnfix's own once-per-tree markers), what stdout and stderr are, the user and group
  ids, the process group and session, the CPU affinity and the scheduling priority;
- ``sys.path``: a change counts where it can change what an import finds among the
  modules imported already (their top-level names found in a directory put before
  entries that were there, or an entry removed or moved); entries appended at the end
  cannot, and neither can directories holding none of those names.

On Linux the umask, the ignored signals and the limits are read from ``/proc/self``
(without it, the umask is set and restored, the ignored signals are those Python knows of
and the limits come from ``resource``).
Not covered: state changed by code that bypasses Python (a C library's ``setenv``), and
modules found by import hooks other than ``sys.path`` (an editable install's finder).
"""

import os
import signal
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

SYS_PATH = "sys.path"
ENVIRONMENT = "environment"
_OWN_VARIABLES = "SPAWNFIX"


def capture() -> "dict[str, Any]":
    """This process's inheritable state, by the name a debug line gives each part."""
    umask, ignored = _from_proc_status()
    return {
        "umask": umask if umask is not None else _umask_by_setting(),
        "resource limits": _resource_limits(),
        "ignored signals": ignored if ignored is not None else _ignored_by_python(),
        "signal mask": _signal_mask(),
        "working directory": _cwd(),
        ENVIRONMENT: _environment(),
        "stdout and stderr": (_file_identity(1), _file_identity(2)),
        "user and group ids": _ids(),
        "process group and session": (os.getpgrp(), os.getsid(0)),
        "CPU affinity": _affinity(),
        "scheduling priority": os.getpriority(os.PRIO_PROCESS, 0),
        SYS_PATH: list(sys.path),
    }


def first_change(before: "dict[str, Any]", after: "dict[str, Any]") -> "Optional[str]":
    """The name of the first part that differs in a way a child would see, or None."""
    for name, value in before.items():
        now = after.get(name)
        if value == now:
            continue
        if name == ENVIRONMENT and _without_own(value) == _without_own(now):
            continue
        if name == SYS_PATH and not sys_path_change_matters(value, now):
            continue
        return name
    return None


def sys_path_change_matters(before: "list[str]", after: "list[str]") -> bool:
    """Whether an import of a module imported already could find another file now."""
    if after[: len(before)] == before:
        return False  # appended at the end only: what was found is still found first
    # Only an entry's first occurrence is ever searched.
    old, new = list(dict.fromkeys(before)), list(dict.fromkeys(after))
    kept = [entry for entry in new if entry in old]
    if kept != old:
        return True  # an entry removed or moved
    if not kept:
        return False  # nothing was found on sys.path before
    added = [entry for entry in new[: new.index(kept[-1])] if entry not in old]
    if not added:
        return False
    imported = {name.partition(".")[0] for name in list(sys.modules)}
    return any(_top_level_names(entry) & imported for entry in added)


def _top_level_names(entry: str) -> "set[str]":
    # The names a path entry offers for import: ``name.py``, ``name/``, ``name.*.so``.
    # An entry that is not a directory (a zip file) may offer anything.
    try:
        listing = os.listdir(entry or ".")
    except NotADirectoryError:
        return {name.partition(".")[0] for name in sys.modules}
    except OSError:
        return set()
    return {name.partition(".")[0] for name in listing}


def _from_proc_status() -> "tuple[Optional[int], Optional[int]]":
    # Linux: both in one read, and the umask without setting it (another thread may be
    # creating a file at that moment).
    status = _read_proc("status")
    if status is None:
        return None, None
    umask, ignored = _status_field(status, b"Umask"), _status_field(status, b"SigIgn")
    return (
        int(umask, 8) if umask is not None else None,
        int(ignored, 16) if ignored is not None else None,
    )


def _read_proc(name: str) -> "Optional[bytes]":
    try:
        fd = os.open(f"/proc/self/{name}", os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _status_field(status: bytes, name: bytes) -> "Optional[bytes]":
    at = status.find(b"\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 2
    end = status.find(b"\n", start)
    return status[start:] if end < 0 else status[start:end]


def _umask_by_setting() -> int:
    # Without /proc the umask can only be read by setting it: put back at once.
    current = os.umask(0o077)
    os.umask(current)
    return current


def _ignored_by_python() -> "frozenset[int]":
    ignored = set()
    for number in signal.valid_signals():
        try:
            if signal.getsignal(number) is signal.SIG_IGN:
                ignored.add(number)
        except (OSError, ValueError):
            continue
    return frozenset(ignored)


def _signal_mask() -> "Optional[frozenset[int]]":
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return frozenset(signal.pthread_sigmask(signal.SIG_BLOCK, ()))


# The resource limits this platform has, where /proc/self/limits is missing.
_limit_numbers: "Optional[tuple[int, ...]]" = None


def _resource_limits() -> "Any":
    # Linux lists them all in one read (importing resource would load an extension).
    listed = _read_proc("limits")
    if listed is not None:
        return listed
    global _limit_numbers
    try:
        import resource
    except ImportError:
        return ()
    if _limit_numbers is None:
        _limit_numbers = tuple(
            getattr(resource, name) for name in sorted(dir(resource)) if name.startswith("RLIMIT_")
        )
    limits = []
    for number in _limit_numbers:
        try:
            limits.append(resource.getrlimit(number))
        except (OSError, ValueError):
            limits.append(None)
    return tuple(limits)


def _cwd() -> "Optional[str]":
    try:
        return os.getcwd()
    except OSError:  # removed
        return None


def _environment() -> "dict[Any, Any]":
    # The encoded mapping os.environ keeps (a copy in 0.3 µs, not 20: no decoding).
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


def _without_own(environment: "dict[Any, Any]") -> "dict[Any, Any]":
    return {name: value for name, value in environment.items() if not _is_own(name)}


def _is_own(name: "Any") -> bool:
    # os.environ's mapping holds bytes on POSIX, str elsewhere.
    return name.startswith(_OWN_VARIABLES.encode() if isinstance(name, bytes) else _OWN_VARIABLES)


def _file_identity(fd: int) -> "Optional[tuple[int, int]]":
    try:
        found = os.fstat(fd)
    except OSError:  # closed
        return None
    return found.st_dev, found.st_ino


def _ids() -> "tuple[Any, ...]":
    if hasattr(os, "getresuid"):
        return os.getresuid(), os.getresgid(), os.getgroups()
    return os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()


def _affinity() -> "Optional[frozenset[int]]":
    if not hasattr(os, "sched_getaffinity"):
        return None
    return frozenset(os.sched_getaffinity(0))


def spawning_popen(reduction: "Any") -> "Any":
    """The Popen whose child is being launched (its ``_fds`` go to the child), or None."""
    popen = reduction.context.get_spawning_popen()
    return popen if isinstance(getattr(popen, "_fds", None), list) else None


def children_run_another_interpreter(spawn_module: "Any") -> bool:
    """Whether children run another interpreter than this one, which may not have
    spawnfix."""
    # ``set_executable()`` to another interpreter (a venv without spawnfix, an embedded
    # Python): nothing of spawnfix's goes into its children's preparation data.
    try:
        executable = spawn_module.get_executable()
        if isinstance(executable, bytes):
            executable = os.fsdecode(executable)
        if executable == sys.executable:
            return False
        # The same binary in the same folder (python3 and python3.11); another folder is
        # another environment (a venv's python links to the same binary as the next).
        same_folder = os.path.dirname(executable) == os.path.dirname(sys.executable)
        if same_folder and os.path.realpath(executable) == os.path.realpath(sys.executable):
            return False
    except Exception:  # fail open: assume the program's own interpreter
        return False
    from spawnfix.diagnostics import log_decision

    log_decision("children run %s (set_executable): started as without spawnfix", executable)
    return True
