"""Files the parent has open, shared with a spawn or forkserver child as under fork.

A fork child shares the parent's open files: one file offset, so the parent's and the
children's writes follow each other and none overwrites another. A spawned child can only
open the file again. Two rules keep every line:

- Parent (``share_for_writing``): the parent's own descriptor is switched to
  ``O_APPEND`` before a child gets the file, so the parent's later writes land after the
  children's instead of over them (a log opened with ``"w"`` would otherwise be
  overwritten from the parent's old offset). The child opens the file for appending, never
  truncating it, whatever mode the parent used.
- Child (``reopen``): while the child re-runs the main script (``spawnfix.effect_guard``),
  a file it gets is open on ``os.devnull``; what a re-run statement writes through it (a
  ``csv.writer`` header the child computes again) goes nowhere, as it went nowhere under
  fork. When the re-run ends, ``connect_reopened_files`` puts the real file under the same
  file object (``os.dup2``), so every reference the re-run made to it writes there.

Files opened for reading are opened again at the parent's position. Files opened for
reading *and* writing (``"r+"``, ``"w+"``) are not shared: their program seeks and writes
in place, which appending would break.
"""

import io
import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

FILE_TYPES = (io.TextIOWrapper, io.BufferedWriter, io.BufferedReader, io.FileIO)

# Child: files opened on os.devnull during the re-run, with the path they stand for.
_waiting: "list[tuple[Any, str, int]]" = []


def share_for_writing(handle: "Any") -> None:
    """Parent: switch ``handle``'s descriptor to append mode (a no-op where impossible)."""
    try:
        import fcntl

        handle.flush()
        descriptor = handle.fileno()
        flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
        if not flags & os.O_APPEND:
            fcntl.fcntl(descriptor, fcntl.F_SETFL, flags | os.O_APPEND)
    except (ImportError, OSError, ValueError, AttributeError):
        pass


def reduce_open_file(handle: "Any") -> "Any":
    """Parent: how a child gets ``handle`` (a pickle reduction); TypeError if it cannot."""
    for stream_name in ("stdout", "stderr", "stdin"):
        if handle is getattr(sys, stream_name, None) or handle is getattr(
            sys, f"__{stream_name}__", None
        ):
            return (standard_stream, (stream_name,))
    name = getattr(handle, "name", None)
    mode = getattr(handle, "mode", "r")
    if not isinstance(name, str) or handle.closed:
        raise TypeError(f"cannot send {handle!r}: closed, or not a named file")
    if "+" in mode:
        raise TypeError(f"cannot send {handle!r}: open for reading and writing")
    binary = "b" in mode or not isinstance(handle, io.TextIOWrapper)
    text = (handle.encoding, handle.errors) if isinstance(handle, io.TextIOWrapper) else None
    if any(letter in mode for letter in "wax"):
        share_for_writing(handle)
        return (reopen, (os.path.abspath(name), "ab" if binary else "a", None, text))
    return (reopen, (os.path.abspath(name), "rb" if binary else "r", handle.tell(), text))


def standard_stream(stream_name: str) -> "Any":
    """Child: the child's own ``sys.stdout``, ``sys.stderr`` or ``sys.stdin``."""
    return getattr(sys, stream_name)


def reopen(path: str, mode: str, position: "Any", text: "Any") -> "Any":
    """Child: the parent's open file, opened again (appending, or at the same position)."""
    from spawnfix import effect_guard

    writing = "a" in mode
    target = os.devnull if writing and effect_guard.rerun_in_progress() else path
    if text is None:
        handle = open(target, mode)  # noqa: SIM115 (the program owns it, as in the parent)
    else:
        handle = open(target, mode, encoding=text[0], errors=text[1])  # noqa: SIM115
    if target != path:
        _waiting.append((handle, path, os.O_WRONLY | os.O_APPEND | os.O_CREAT))
        effect_guard.after_rerun(connect_reopened_files)
    elif position:
        handle.seek(position)
    return handle


def connect_reopened_files() -> None:
    """Child, after the re-run: put each real file under its stand-in file object."""
    while _waiting:
        handle, path, flags = _waiting.pop()
        try:
            handle.flush()  # what the re-run wrote goes to os.devnull
            descriptor = os.open(path, flags, 0o666)
            try:
                os.dup2(descriptor, handle.fileno())
            finally:
                os.close(descriptor)
        except (OSError, ValueError) as error:
            from spawnfix.diagnostics import log_decision

            log_decision("file %s not given to the child: %r", path, error)
