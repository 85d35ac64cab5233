"""The script this process runs: read once, checked against the running code, and where
its top-level code is on the stack.

``spawnfix.main_script`` analyses a script's text; this module ties that analysis to the
running program. The parent calls ``find_spawn_site`` each time a spawn or forkserver
child is prepared: it looks for the frame that runs the main script's top-level code
(on the calling thread, else the main thread and the statement that started the calling
thread, ``spawnfix.thread_sites``) and maps its line to the top-level statement around
it. No such frame (a callback after the script's body has finished, ``python -c``): the
child is not started from the top-level code.

The source is read and parsed once per process (a fork server's children inherit its
parse), only when a child is actually being prepared. A script edited on disk after it
started is not analysed at all: its running code is compared with the file's
(``read_source``), and a difference leaves children native. Limits: code run through
``exec`` in the main module's namespace is treated as top-level code.
"""

import io
import os
import sys

from spawnfix.main_script import (
    MainScript,
    ScriptText,
    SpawnSite,
    absolute_path,
    describe_statements,
    parse_module,
)

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

# Parsed main scripts by path; a process has one main script, parsed at most once.
_scripts: "dict[str, Optional[MainScript]]" = {}


def main_script_path(main_module: object) -> "Optional[str]":
    """The file the main module runs: ``__spec__.origin`` for ``-m``, else ``__file__``.

    The spec comes first because some libraries (wandb 0.12) point ``__main__.__file__``
    elsewhere while they start a process; the module name, and so the spec, still decides
    what a child re-runs.
    """
    spec = getattr(main_module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    if getattr(spec, "name", None) and isinstance(origin, str):
        return origin
    path = getattr(main_module, "__file__", None)
    return path if isinstance(path, str) else None


def rerun_path(main_module: object, data: "dict") -> "Optional[str]":
    """The file a child given preparation ``data`` re-runs, or None when it re-runs nothing.

    Mirrors ``spawn.prepare``: ``__main__`` and ``pkg.__main__`` modules and the ``ipython``
    launcher are never re-run; a module name wins over a path.
    """
    name = data.get("init_main_from_name")
    if name is not None:
        if name == "__main__" or name.endswith(".__main__"):
            return None
        spec = getattr(main_module, "__spec__", None)
        return getattr(spec, "origin", None) if getattr(spec, "name", None) == name else None
    path = data.get("init_main_from_path")
    if path is None or os.path.splitext(os.path.basename(path))[0] == "ipython":
        return None
    return path


def load_script(path: "Optional[str]") -> "Optional[MainScript]":
    """Read and analyse the script at ``path``; None when it has no Python source."""
    if not isinstance(path, str) or not path.endswith(".py"):
        return None
    path = absolute_path(path)
    if path not in _scripts:
        _scripts[path] = _analyse(path)
    return _scripts[path]


class ScriptChanged(OSError):
    """The main script's file no longer holds the code the program is running."""


def read_source(path: str, known: "Optional[bytes]" = None) -> bytes:
    """The bytes of the script at ``path``, read once per process (``known``: bytes the
    caller read already). The warm-start check, the text check of the main guard and the
    parse all read the same file. ``OSError`` reaches the caller: ``ScriptChanged`` when
    the file was edited since the program started (its lines are not the running ones)."""
    key = absolute_path(path)
    if key not in _sources:
        if known is None:
            with io.open_code(path) as handle:
                known = handle.read()
        _sources[key] = known if _is_running_text(key, known) else None
    source = _sources[key]
    if source is None:
        raise ScriptChanged(f"{key} was edited after the program started")
    return source


# The main script's bytes by absolute path (see read_source); None: edited since it started.
_sources: "dict[str, Optional[bytes]]" = {}


def _is_running_text(path: str, source: bytes) -> bool:
    # True unless ``path`` is the script the parent's __main__ is running and ``source``
    # compiles to other code than the running one (lines moved, statements changed).
    # Nothing to compare with (a child, another file, the top level not on any stack):
    # the file is taken as it is.
    main_module = sys.modules.get("__main__")
    script = main_script_path(main_module)
    if getattr(main_module, "__name__", None) != "__main__" or script is None:
        return True
    if absolute_path(script) != path:
        return True
    running = _running_main_code(getattr(main_module, "__dict__", None), path)
    if running is None:
        return True
    try:
        compiled = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return compiled == running and _line_table(compiled) == _line_table(running)


def _running_main_code(main_globals: object, path: str) -> "Any":
    # The code object of the main script's module body: the outermost "<module>" frame
    # of the main module from ``path`` on this thread's or the main thread's stack.
    for start in (sys._getframe(1), _main_thread_frame()):
        found = _outermost_top_level_frame(start, main_globals, path)
        if found is not None:
            return found.f_code
    return None


def _line_table(code: "Any") -> bytes:
    # Code equality leaves out the line table on 3.8-3.10.
    table = getattr(code, "co_linetable", None)
    return table if table is not None else code.co_lnotab


def source_and_tree(path: str) -> "tuple[bytes, Any]":
    """The source of the script at ``path`` and its syntax tree: as this process (or the
    fork server it was forked from) read them already, else read and parsed now.
    ``OSError`` and ``SyntaxError`` reach the caller."""
    script = _scripts.get(absolute_path(path))
    if script is not None and script.tree is not None:
        return script.source, script.tree
    source = read_source(path)
    return source, parse_module(source, path)


def load_main_script(main_module: object) -> "Optional[MainScript]":
    """Read and analyse the script the main module runs."""
    return load_script(main_script_path(main_module))


def _analyse(path: str) -> "Optional[MainScript]":
    try:
        source, tree = source_and_tree(path)
    except ScriptChanged as changed:
        from spawnfix.diagnostics import log_decision

        log_decision("%s: its children start as without spawnfix", changed)
        return None
    except (OSError, SyntaxError, ValueError):
        return None
    return MainScript(path, source, describe_statements(tree), tree)


def top_level_line(main_module: object, path: str) -> "Optional[int]":
    """The line the main module's top-level code from ``path`` is executing, if on a stack.

    The calling thread's stack is searched first. A child started from another thread (a
    ``Pool``'s worker handler, dask's event loop, the user's own thread) has no top-level
    frame there; the site is then the earlier of the main thread's current top-level line
    and the line that started the calling thread (``spawnfix.thread_sites``).
    """
    main_globals = getattr(main_module, "__dict__", None)
    line = _top_level_line_from(sys._getframe(1), main_globals, path)
    if line is not None:
        return line
    from spawnfix import thread_sites

    frame = _main_thread_frame()
    candidates = [
        thread_sites.origin_of_current_thread(),
        _top_level_line_from(frame, main_globals, path) if frame is not None else None,
    ]
    known = [line for line in candidates if line is not None]
    return min(known) if known else None


def _top_level_line_from(frame: "Any", main_globals: object, path: str) -> "Optional[int]":
    found = _outermost_top_level_frame(frame, main_globals, path)
    return None if found is None else found.f_lineno


def _outermost_top_level_frame(frame: "Any", main_globals: object, path: str) -> "Any":
    # The outermost frame from ``frame`` outwards running the main module's body from
    # ``path`` (an inner one runs code exec'd in its namespace), or None.
    found = None
    while frame is not None:
        code = frame.f_code
        if (
            frame.f_globals is main_globals
            and code.co_name == "<module>"
            and absolute_path(code.co_filename) == path
        ):
            found = frame
        frame = frame.f_back
    return found


def _main_thread_frame() -> "Any":
    threading = sys.modules.get("threading")
    if threading is None:
        return None
    main_thread = threading.main_thread()
    if main_thread is threading.current_thread():
        return None
    return sys._current_frames().get(main_thread.ident)


def source_if_site_in_main_guard(main_module: object, path: str) -> "Optional[bytes]":
    """The script's source if its top-level code is now inside the block of a top-level
    ``if __name__ == "__main__":`` and no ``set_start_method`` is written outside that
    block; None when the text alone does not make that certain.

    That is how most guarded programs start their children, and telling it from the text
    spares the parent the parse: importing ``_ast`` alone costs about 12 M instructions,
    a third of an interpreter's start. None (parse instead) whenever the script was parsed
    already, the line is not indented, the nearest line above it that starts at column 0
    is anything but the guard exactly, or the source before the guard is not a complete
    module (the guard would then be text inside a string or brackets).
    """
    path = absolute_path(path)
    if path in _scripts:
        return None
    line = top_level_line(main_module, path)
    if line is None:
        return None
    if path not in _texts:
        try:
            _texts[path] = ScriptText(read_source(path), path)
        except OSError:
            return None
    text = _texts[path]
    return text.source if text.in_main_guard(line) else None


# The main script's lines by path, for the check above; made once per process.
_texts: "dict[str, ScriptText]" = {}


def find_spawn_site(main_module: object, script: "Optional[MainScript]") -> "Optional[SpawnSite]":
    """Locate and classify ``script``'s top-level statement on the current stack.

    Returns None when there is no analysable script or when its top-level code is on
    neither the calling thread's nor the main thread's stack (the script's body has
    finished).
    """
    if script is None:
        return None
    line = top_level_line(main_module, script.path)
    if line is None:
        return None
    return SpawnSite(script, line, script.statement_at(line))
