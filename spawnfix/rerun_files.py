"""Files a child's re-run opens for writing: kept, never truncated, silent until it ends.

Under ``fork`` a child holds the files the parent's top-level code opened. A spawn or
forkserver child's re-run (``spawnfix.effect_guard.quiet_rerun``) opens them again; opened
as written, ``"w"`` would truncate what the parent wrote and every write would repeat the
parent's. Refused, the statement is lost: a tee ``sys.stdout = Tee("run.log")``, a
``RotatingFileHandler`` in ``basicConfig(handlers=[...])``, ``basicConfig(filemode="w",
force=True)`` leave the child without the file it writes its records to.

So, inside the statements the re-run refuses effects for, ``open()`` of a path in
``"w"``, ``"a"`` or ``"x"`` mode (text or binary, without ``"+"``) of a file that exists
opens it for appending (never truncated, never created: a file the parent removed is
refused as before), and the descriptor
writes to ``os.devnull`` until the re-run ends: what the re-run writes, the parent wrote
already. Then the file's buffer is dropped there and its descriptor points at the file
again, so the child's own records follow the parent's, as under fork; where the parent
sent its own open file for that path (``spawnfix.shared_files``), the descriptor becomes
the parent's, so parent and child write at one offset and neither overwrites the other.

Limits: ``"+"`` modes and ``os.open`` are still refused (the statement is skipped), and so
are files opened through anything but ``builtins.open``/``io.open`` (a C library).
"""

import builtins
import io
import os

from spawnfix import shared_files

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

_OPENED_AS = {"w": "a", "a": "a", "x": "a"}


def install(refusing: "Any", allowing_effects: "Any") -> None:
    """Make ``open()`` and ``io.open()`` open files the re-run's way while it lasts:
    inside the statements for which ``refusing()`` is true; ``allowing_effects()`` lifts
    the refusal for the open itself (spawnfix.effect_guard gives both)."""
    global _real_open, _refusing, _allowing_effects
    _refusing, _allowing_effects = refusing, allowing_effects
    if builtins.open is not _rerun_open:
        _real_open = builtins.open
        builtins.open = io.open = _rerun_open


def uninstall() -> None:
    """Give back the real ``open()`` (the files it opened are connected to their files by
    ``shared_files.connect_reopened_files`` when the re-run ends)."""
    if builtins.open is _rerun_open:
        builtins.open = io.open = _real_open


# The open() the re-run's replaced, and effect_guard's test and lift of the refusal.
_real_open = builtins.open
_refusing: "Any" = bool
_allowing_effects: "Any" = None


def _rerun_open(file: "Any", mode: str = "r", *args: "Any", **kwargs: "Any") -> "Any":
    kept_mode = _appending_mode(mode) if _refusing() else None
    if kept_mode is None or not isinstance(file, (str, bytes, os.PathLike)):
        return _real_open(file, mode, *args, **kwargs)
    if not os.path.isfile(file):
        # Not there (the parent removed it, or never made it): appending would create it.
        raise PermissionError(
            f"spawnfix: the parent already did this (open {file!r}); a child does not"
        )
    with _allowing_effects():
        handle = _real_open(file, kept_mode, *args, **kwargs)
        try:
            real = shared_files.parents_descriptor(handle.fileno())
            if real is None:
                real = os.dup(handle.fileno())
            shared_files.silence_until_rerun_ends(handle, real, os.fsdecode(file))
        except OSError:
            handle.close()
            raise
    return handle


def _appending_mode(mode: "Any") -> "Any":
    # "w", "wb", "at", "x"...: the same mode appending; None for any other mode.
    if not isinstance(mode, str) or "+" in mode:
        return None
    for letter, kept in _OPENED_AS.items():
        if letter in mode:
            return mode.replace(letter, kept)
    return None
