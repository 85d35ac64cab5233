"""Files the parent has open, shared with a spawn or forkserver child as under fork.

A fork child shares the parent's open files: the same open file description, so one file
offset, and the parent's and the children's writes follow each other and none overwrites
another. A spawn or forkserver child gets the same: a file open for writing (or reading
and writing) is sent as its descriptor, passed to the child by the launch as
multiprocessing passes a ``Queue``'s (``DupFd``, inside the launch that pickles it), and
the child wraps it in a file object of the parent's mode (``adopt``). Nothing of the
parent's changes: its descriptor keeps its flags and offset, and only its buffer is
flushed first (a fork child would otherwise write the parent's unflushed data twice).

- Child (``reopen``/``adopt``): while the child re-runs the main script
  (``spawnfix.effect_guard``), a file it gets is open on ``os.devnull``; what a re-run
  statement writes through it (a ``csv.writer`` header the child computes again) goes
  nowhere, as it went nowhere under fork. When the re-run ends, ``connect_reopened_files``
  puts the real file under the same file object (``os.dup2``), so every reference the
  re-run made to it writes there.
- Outside a launch (no descriptor can be passed), a file open for writing is opened again
  for appending, never truncated; a file open for reading is opened again at the parent's
  position (its own offset, as before).
"""

import io
import os
import sys
from contextlib import suppress

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

FILE_TYPES = (io.TextIOWrapper, io.BufferedWriter, io.BufferedReader, io.BufferedRandom, io.FileIO)

# Child: files opened on os.devnull during the re-run, with the path they stand for and
# how to open it (flags), or the parent's descriptor received for it.
_waiting: "list[tuple[Any, str, int, Optional[int]]]" = []


def share_for_writing(handle: "Any") -> "Any":
    """Parent, inside a launch: flush ``handle`` and return its descriptor as the launch
    passes it to the child (None where it cannot: no launch, no descriptor)."""
    try:
        handle.flush()
        descriptor = handle.fileno()
        import multiprocessing.context as context
        from multiprocessing import reduction

        if context.get_spawning_popen() is None:
            return None
        return reduction.DupFd(descriptor)
    except (ImportError, OSError, ValueError, AttributeError):
        return None


def distinct_descriptors(package: str) -> "Any":
    """Parent, inside a launch: make each descriptor pickled from now on pass as a
    duplicate of its own; returns the function that undoes that."""
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
    from spawnfix.private_api import expects

    if not expects(original, "multiprocessing.popen_spawn_posix:Popen.duplicate_for_child"):
        return lambda: None

    def duplicate_for_child(descriptor: int) -> "Any":
        copy = os.dup(descriptor)
        weakref.finalize(popen, os.close, copy)
        return original(copy)

    popen.duplicate_for_child = duplicate_for_child
    return lambda: vars(popen).pop("duplicate_for_child", None)


class LaunchDescriptor:
    """Parent: an open file's descriptor, for data built before the launch pickles it
    (a logging handler's stream, read at ``get_preparation_data``): the descriptor is
    taken when the launch pickles it, and the child receives ``share_for_writing``'s
    result, or None where the descriptor could not be passed."""

    def __init__(self, handle: "Any") -> None:
        self.handle = handle

    def __reduce__(self) -> "Any":
        shared = share_for_writing(self.handle)
        return (_received, (shared,))


def _received(shared: "Any") -> "Any":
    return shared


def reduce_open_file(handle: "Any") -> "Any":
    """Parent: how a child gets ``handle`` (a pickle reduction); TypeError if it cannot."""
    for stream_name in ("stdout", "stderr", "stdin"):
        if handle is getattr(sys, stream_name, None) or handle is getattr(
            sys, f"__{stream_name}__", None
        ):
            return (standard_stream, (stream_name,))
    name = getattr(handle, "name", None)
    mode = getattr(handle, "mode", "r")
    anonymous = isinstance(name, int)  # tempfile.TemporaryFile: a descriptor, no path
    if not (isinstance(name, str) or anonymous) or handle.closed:
        raise TypeError(f"cannot send {handle!r}: closed, or not a named file")
    binary = "b" in mode or not isinstance(handle, io.TextIOWrapper)
    text = (handle.encoding, handle.errors) if isinstance(handle, io.TextIOWrapper) else None
    path = f"<descriptor {name}>" if anonymous else os.path.abspath(name)
    if any(letter in mode for letter in "wax+"):
        shared = share_for_writing(handle)
        if shared is not None:
            mode = mode.replace("b", "") + ("b" if binary else "")
            return (adopt, (shared, mode, text, path))
        if "+" in mode or anonymous:
            raise TypeError(f"cannot send {handle!r}: open for reading and writing, or anonymous")
        return (reopen, (path, "ab" if binary else "a", None, text))
    if anonymous:
        raise TypeError(f"cannot send {handle!r}: an anonymous file open for reading")
    return (reopen, (path, "rb" if binary else "r", handle.tell(), text))


def reduce_named_temporary_file(wrapper: "Any") -> "Any":
    """Parent: a ``tempfile.NamedTemporaryFile`` reaches a child as its file (shared as any
    open file) under the same name; the child's never deletes it (the parent's does)."""
    return (named_temporary_file, (wrapper.file, wrapper.name))


def named_temporary_file(handle: "Any", name: str) -> "Any":
    """Child: the parent's ``NamedTemporaryFile``, a wrapper that does not delete it."""
    import tempfile

    return tempfile._TemporaryFileWrapper(handle, name, delete=False)


def extra_file_reducers() -> "dict[type, Any]":
    """Reducers for file wrappers of modules the program imported (tempfile's)."""
    tempfile = sys.modules.get("tempfile")
    wrapper = getattr(tempfile, "_TemporaryFileWrapper", None)
    return {wrapper: reduce_named_temporary_file} if isinstance(wrapper, type) else {}


def standard_stream(stream_name: str) -> "Any":
    """Child: the child's own ``sys.stdout``, ``sys.stderr`` or ``sys.stdin``."""
    return getattr(sys, stream_name)


def reopen(path: str, mode: str, position: "Any", text: "Any") -> "Any":
    """Child: the parent's open file, opened again (appending, or at the same position)."""
    from spawnfix import rerun_state

    writing = "a" in mode
    target = os.devnull if writing and rerun_state.rerun_in_progress() else path
    if text is None:
        handle = open(target, mode)  # noqa: SIM115 (the program owns it, as in the parent)
    else:
        handle = open(target, mode, encoding=text[0], errors=text[1])  # noqa: SIM115
    if target != path:
        _waiting.append((handle, path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, None))
        rerun_state.after_rerun(connect_reopened_files)
    elif position:
        handle.seek(position)
    return handle


def adopt(shared: "Any", mode: str, text: "Any", path: str) -> "Any":
    """Child: the parent's open file, as the same open file description (fork's sharing);
    ``mode`` is the parent's (opening a descriptor never truncates or creates)."""
    from spawnfix import rerun_state

    descriptor = shared.detach()
    if not rerun_state.rerun_ahead():
        return _open_file(descriptor, mode, text)
    _remember_parents_file(descriptor)  # for a file the re-run opens again
    if "+" in mode:
        # A file open for reading too is the real one at once: the re-run may read it
        # or map it (mmap); what it would write is not run (a method call on a name
        # from the parent is not re-run).
        return _open_file(descriptor, mode, text)
    # A stand-in until the re-run ends: what a re-run statement writes goes nowhere.
    stand_in = "a" + ("b" if "b" in mode else "")
    handle = _open_file(os.devnull, stand_in, text)
    _waiting.append((handle, path, 0, descriptor))
    rerun_state.after_rerun(connect_reopened_files)
    return handle


def silence_until_rerun_ends(handle: "Any", descriptor: int, path: str) -> None:
    """Child, in the re-run: ``handle`` writes to os.devnull until the re-run ends, then
    to ``descriptor`` (which it takes over)."""
    from spawnfix import rerun_state

    silent = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(silent, handle.fileno())
    finally:
        os.close(silent)
    _waiting.append((handle, path, 0, descriptor))
    rerun_state.after_rerun(connect_reopened_files)


def _remember_parents_file(descriptor: int) -> None:
    try:
        status = os.fstat(descriptor)
        _parents_files.setdefault((status.st_dev, status.st_ino), os.dup(descriptor))
    except OSError:
        pass


# Child: (device, inode) -> a descriptor of the parent's open file description for that
# file, as received (``adopt``); kept for the child's life, so that a file the re-run
# opens again (``spawnfix.rerun_files``) writes at the parent's offset, as under fork.
_parents_files: "dict[tuple[int, int], int]" = {}


def parents_descriptor(descriptor: int) -> "Optional[int]":
    """Child: a new descriptor of the parent's open file description for the file open
    on ``descriptor``, or None when the parent sent none for that file."""
    try:
        status = os.fstat(descriptor)
        kept = _parents_files.get((status.st_dev, status.st_ino))
        return None if kept is None else os.dup(kept)
    except OSError:
        return None


def _open_file(target: "Any", mode: str, text: "Any") -> "Any":
    if text is None or "b" in mode:
        return open(target, mode)
    return open(target, mode, encoding=text[0], errors=text[1])


def connect_reopened_files() -> None:
    """Child, after the re-run: put each real file under its stand-in file object."""
    while _waiting:
        handle, path, flags, received = _waiting.pop()
        if handle.closed:  # closed by the re-run (a with-block): nothing to connect
            if received is not None:
                os.close(received)
            continue
        with suppress(OSError, ValueError):
            handle.flush()  # what the re-run wrote goes to os.devnull
        try:
            descriptor = received if received is not None else os.open(path, flags, 0o666)
            try:
                os.dup2(descriptor, handle.fileno())
            finally:
                os.close(descriptor)
        except (OSError, ValueError) as error:
            from spawnfix.diagnostics import log_decision

            log_decision("file %s not given to the child: %r", path, error)
