"""Every user-facing text of spawnfix, written once so that the wording stays consistent.

Each message names the script and line, shows the line, says what happens and why, and
gives the fix.
"""

import os

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Optional

    # (line number, source text, what happens to that line in a child)
    Finding = tuple[int, str, str]

BOOTSTRAP_ERROR = (
    "An attempt has been made to start a new process before the current process "
    "has finished its bootstrapping phase"
)
GUARD = 'if __name__ == "__main__":'


def _quote_line(line: int, text: str) -> str:
    return f"    {line:>4} | {text}"


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


class UnguardedFindings:
    """What the parent found about one launch, and the two ways of telling the user."""

    def __init__(
        self,
        script_path: str,
        start_method: str,
        site_lines: "Optional[tuple[int, int]]",
        site_text: str,
        site_is_compound: bool,
        hazards: "Sequence[Finding]",
    ) -> None:
        self.script_path = script_path
        self.start_method = start_method
        self.site_lines = site_lines
        self.site_text = site_text
        self.site_is_compound = site_is_compound
        self.hazards = hazards

    @property
    def first_line(self) -> int:
        """The line the warning is attributed to: the site, else the first hazard."""
        return self.site_lines[0] if self.site_lines else self.hazards[0][0]

    def warning(self) -> str:
        """Text of the ``UnguardedMainWarning`` emitted once by the parent in default mode."""
        if self.site_lines is None:
            action = "spawnfix handles those lines in the children, so this run works."
        elif self.site_is_compound:
            action = (
                "spawnfix stops each child's re-run at its first process start inside that "
                "statement, so this run works."
            )
        else:
            action = "spawnfix stops each child's re-run before that statement, so this run works."
        return "\n".join(
            [
                *self._describe(),
                action,
                self._fix(),
                "Silence this warning with SPAWNFIX=quiet; make it an error with SPAWNFIX=strict.",
            ]
        )

    def error(self) -> str:
        """Text of the ``UnguardedMainError`` raised by the parent in strict mode."""
        return "\n".join(
            [
                "spawnfix (SPAWNFIX=strict) stopped before starting the child process.",
                *self._describe(),
                self._fix(),
                "Or let spawnfix handle it: run with SPAWNFIX=1.",
            ]
        )

    def _describe(self) -> "list[str]":
        name = os.path.basename(self.script_path)
        method = self.start_method
        out = []
        if self.site_lines is not None:
            first, last = self.site_lines
            out.append(
                f"{self.script_path}:{first} starts a '{method}' child process from top-level "
                f"code that is not under `{GUARD}`:"
            )
            out.append(_quote_line(first, self.site_text))
            out.append(
                f"With the '{method}' start method every child re-runs {name} as "
                f"__mp_main__. Without spawnfix the child reaches {_lines(first, last)} again "
                f'and dies: "{BOOTSTRAP_ERROR}".'
            )
        else:
            out.append(
                f"{self.script_path} has top-level code outside `{GUARD}` that every "
                f"'{method}' child runs again when it re-runs {name} as __mp_main__:"
            )
        for line, text, consequence in self.hazards:
            out.append(_quote_line(line, text))
            out.append(f"         {consequence}")
        return out

    def _fix(self) -> str:
        moved = [f"line {line}" for line, _, _ in self.hazards]
        if self.site_lines is not None:
            fix = f"Fix: put line {self.site_lines[0]} and everything after it under `{GUARD}`"
            if moved:
                fix += f", and move {' and '.join(moved)} there too"
        else:
            fix = f"Fix: move {' and '.join(moved)} under `{GUARD}`"
        name = os.path.basename(self.script_path)
        return (
            fix + " (imports, functions and classes can stay outside it); "
            f"`spawnfix fix {name}` shows that change."
        )


START_METHOD_HAZARD = (
    "set_start_method() runs again in every child, where it fails with "
    "'context has already been set'; spawnfix makes that repeated call do nothing."
)
WANDB_HAZARD = (
    "wandb.init() runs again in every child; there spawnfix returns a disabled run "
    "(run.log, wandb.log and run.finish do nothing), so only this process creates a run. "
    "To log from workers, call wandb.init() inside the worker function, or guard the script."
)
WANDB_STRICT_HAZARD = "wandb.init() runs again in every child and would create a duplicate run."
START_METHOD_STRICT_HAZARD = (
    "set_start_method() runs again in every child and fails there with "
    "'context has already been set'."
)


def unknown_mode(raw: str) -> str:
    """Said once when ``SPAWNFIX`` holds a value spawnfix does not understand."""
    return (
        f"spawnfix: SPAWNFIX={raw!r} is not understood; using the default ('on'). "
        "Use one of: on (or 1, unset), quiet, strict, off (or 0)."
    )


def setting_not_understood(variable: str, raw: str) -> str:
    """Logged under ``SPAWNFIX_DEBUG`` when another ``SPAWNFIX_*`` variable holds a value
    spawnfix does not understand."""
    return f"{variable}={raw!r} is not understood; using its default"


def pth_import_lines_ignored(version: str) -> str:
    """``spawnfix doctor`` on a Python that ignores import lines in ``.pth`` files (3.18+)."""
    return (
        f"note: Python {version} ignores import lines in .pth files (PEP 829), so "
        "spawnfix.pth cannot start the hook here: install the spawnfix wheel for Python "
        "3.18+, which starts it from spawnfix.start, or run programs with `spawnfix run`"
    )


def wandb_thread_start(script_path: str, line: int, text: str, start_method: str) -> str:
    """Default-mode warning when old wandb is switched to thread start."""
    return "\n".join(
        [
            f"{script_path}:{line} calls wandb.init() from top-level code that is not under "
            f"`{GUARD}`:",
            _quote_line(line, text),
            f"This wandb version starts its backend as a '{start_method}' child process, which "
            "re-runs the script and crashes. spawnfix starts the backend in a thread instead "
            "(WANDB_START_METHOD=thread) for this run.",
            f"Fix: move line {line} and the code after it under `{GUARD}`.",
            "Silence this warning with SPAWNFIX=quiet; make it an error with SPAWNFIX=strict.",
        ]
    )


def wandb_thread_start_error(script_path: str, line: int, text: str, start_method: str) -> str:
    """Strict-mode error when old wandb would start its backend with spawn/forkserver."""
    return "\n".join(
        [
            "spawnfix (SPAWNFIX=strict) stopped wandb.init() before it started its backend.",
            f"{script_path}:{line} calls wandb.init() from top-level code that is not under "
            f"`{GUARD}`:",
            _quote_line(line, text),
            f"This wandb version starts its backend as a '{start_method}' child process, which "
            f're-runs the script, calls wandb.init() again and dies: "{BOOTSTRAP_ERROR}".',
            f"Fix: move line {line} and the code after it under `{GUARD}`, or set "
            "WANDB_START_METHOD=thread.",
            "Or let spawnfix handle it: run with SPAWNFIX=1.",
        ]
    )


def worker_startup_failure(exit_codes: "Sequence[int]", failure: "Optional[dict]") -> str:
    """Text of ``WorkerStartupError``: the pool's workers keep dying before they start."""
    deaths = len(exit_codes)
    codes = ", ".join(str(code) for code in exit_codes) or "?"
    out = [
        f"The Pool's workers keep dying before they get going: {deaths} workers in a row "
        f"exited during startup (exit codes {codes}) and none received a task, so the Pool "
        "would replace them forever. spawnfix stopped the pool.",
    ]
    if failure is None:
        out.append(
            "The workers raised no Python exception that spawnfix could see (killed by a "
            "signal, or crashed in native code); their stderr may say more."
        )
        out.append("Fix: run the worker code once in a plain process to see how it fails.")
        return "\n".join(out)
    where = (
        f'File "{failure["filename"]}", line {failure["lineno"]}'
        if failure.get("filename")
        else "no traceback"
    )
    out.append(
        f"The last worker failed {_phase_text(failure)} with "
        f"{failure['type']}: {failure['message']} ({where})."
    )
    out.append("Its traceback:")
    out.extend("    " + line for line in failure["traceback"].rstrip().splitlines())
    out.append(_startup_fix(failure))
    out.append("SPAWNFIX=off restores the standard library's endless respawn.")
    return "\n".join(out)


def _phase_text(failure: "dict") -> str:
    phase = failure.get("phase")
    if phase == "initializer":
        return "in the pool's initializer"
    if phase == "first task":
        return "while unpickling its first task"
    main = failure.get("main")
    name = os.path.basename(main) if main else "the main script"
    return f"while starting (re-running {name} as __mp_main__, or unpickling what it runs)"


def _startup_fix(failure: "dict") -> str:
    message = failure.get("message", "")
    kind = failure.get("type", "")
    if BOOTSTRAP_ERROR.split(" before")[0] in message:
        return (
            f"Fix: put the code that starts processes under `{GUARD}` (or let spawnfix repair "
            "the script: it does unless SPAWNFIX=off or strict)."
        )
    main = failure.get("main")
    if failure.get("phase") == "bootstrap" and main and failure.get("filename") == main:
        name = os.path.basename(main)
        return (
            f"Fix: {name} raises when a worker re-runs it as __mp_main__ (line "
            f"{failure.get('lineno')}). Code that only works in the parent belongs under "
            f"`{GUARD}`; a worker needs only the imports, functions and classes."
        )
    if failure.get("phase") == "initializer":
        return (
            "Fix: the pool's initializer raised; correct it, or catch the error inside it. "
            "It runs once in every worker before any task."
        )
    if "Can't get attribute" in message:
        return (
            "Fix: the workers cannot find that function or class in __main__: define it in "
            "a module (a .py file next to the script or notebook) and import it from there."
        )
    if failure.get("phase") == "first task" and kind not in ("ModuleNotFoundError", "ImportError"):
        return (
            "Fix: a task's arguments cannot be rebuilt in a worker (their unpickling raises, "
            "see the traceback): pass plain data (paths, numbers, arrays) and build the "
            "object inside the task, or make its __reduce__/__setstate__ work in a worker."
        )
    if kind in ("ModuleNotFoundError", "ImportError"):
        return (
            "Fix: the workers cannot import that module. A spawn or forkserver worker is a "
            "fresh interpreter: install the module, or keep its folder on sys.path and in "
            "place while the pool runs."
        )
    return (
        "Fix: the worker fails as it starts, before any task; the traceback above shows "
        f"where. Code that only the parent should run belongs under `{GUARD}`."
    )


def executor_startup_cause(pid: int, failure: "dict") -> str:
    """First line of the cause spawnfix gives a ``BrokenProcessPool``."""
    return f"Worker process {pid} failed {_phase_text(failure)} (reported by spawnfix):\n"


def sent_by_value(objects: "Sequence[object]", interactive: bool) -> str:
    """Default-mode warning, once per process tree, when something was sent by value."""
    names = ", ".join(
        f"{'class' if isinstance(item, type) else 'function'} {getattr(item, '__qualname__', item)}"
        for item in objects
    )
    if interactive:
        why = (
            "it is defined in an interactive __main__ (a notebook, IPython, python -c or "
            "stdin) that spawn and forkserver children do not re-create"
        )
        fix = (
            "Fix: to run without spawnfix, define it in a module (a .py file next to the "
            "notebook) and import it from there."
        )
    else:
        why = (
            "a child cannot find it by module and name (a lambda, a nested function or a "
            "class defined inside a function)"
        )
        fix = "Fix: to run without spawnfix, define it at the top level of a module."
    return "\n".join(
        [
            f"spawnfix sent {names or 'an object'} to a child process by value (cloudpickle): "
            f"{why}. Under fork the child inherited it with the parent's memory.",
            fix,
            "Silence this warning with SPAWNFIX=quiet; make it an error with SPAWNFIX=strict.",
        ]
    )


def by_value_refused(names: "Sequence[str]", reason: object) -> str:
    """Strict-mode error instead of sending by value."""
    listed = ", ".join(names) or "a function or class"
    return "\n".join(
        [
            f"spawnfix (SPAWNFIX=strict) did not send {listed} to the child process by value.",
            f"The standard library cannot send it by reference: {reason}.",
            "Under fork the child inherited it with the parent's memory; spawn and forkserver "
            "children must unpickle it, and pickle finds functions and classes by module and "
            "name only.",
            "Fix: define it at the top level of a module (a .py file) and import it from "
            "there. Or let spawnfix send it by value: run with SPAWNFIX=1.",
        ]
    )


def unpicklable_for_child(culprit: object, where: str, reason: object) -> str:
    """Error for an object that cannot be pickled at all, even by value."""
    kind = type(culprit).__name__
    text = repr(culprit)
    if len(text) > 120:
        text = text[:117] + "..."
    return "\n".join(
        [
            f"Cannot send {text} (a {kind}) to a child process: it is {where}.",
            f"Pickling it fails even by value: {reason}.",
            "Under fork this worked because the child got a copy of the parent's memory; "
            "spawn and forkserver children (the default on macOS, Windows, and on Linux since "
            "Python 3.14) receive everything they need pickled.",
            "Fix: create it inside the child (in the target function, or in a Pool "
            "initializer) from something that pickles: a path instead of an open file, a "
            "multiprocessing.Lock or Manager().Lock() instead of a threading.Lock, a list "
            "instead of a generator.",
        ]
    )


def needs_newer_python(error: "SyntaxError", what: str, version: str) -> str:
    """``spawnfix check`` on a file written for a newer Python than the one running it."""
    import sys

    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    line = (error.text or "").strip()
    return (
        f"cannot read this file with Python {running}: line {error.lineno} (`{line}`) uses "
        f"{what}, new in Python {version}. Run spawnfix check with Python {version} or newer "
        f"(python{version} -m spawnfix check ...)."
    )


def check_summary(count: int) -> str:
    """Said by ``spawnfix check`` after its findings."""
    return (
        f"{count} finding(s). Fix: move the program code under `{GUARD}` "
        "(`spawnfix fix PATH` shows the change)."
    )


FIX_NEEDS_LIBCST = (
    "spawnfix fix needs libcst, which keeps comments and formatting: "
    "pip install 'spawnfix[fix]' (or pip install libcst)"
)


def fix_cannot_read(path: str, error: Exception) -> str:
    """Said by ``spawnfix fix`` for a file it cannot read or decode (one line)."""
    reason = _one_line(error)
    if isinstance(error, UnicodeDecodeError):
        reason += (
            "; if the file is not UTF-8, declare its encoding on line 1 or 2 "
            "(`# -*- coding: latin-1 -*-`)"
        )
    return f"{path}: not fixed, cannot read it as Python source: {reason}"


def fix_cannot_parse(path: str, error: SyntaxError) -> str:
    """Said by ``spawnfix fix`` for a file that is not valid Python."""
    return f"{path}: cannot parse: {_one_line(error)}"


def fix_cannot_write(path: str, error: Exception) -> str:
    """Said by ``spawnfix fix`` when the rewrite does not fit the file's encoding."""
    return f"{path}: not fixed, the rewrite cannot be written in its encoding: {_one_line(error)}"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fix_refused(path: str, problems: "Sequence[str]") -> str:
    """Said by ``spawnfix fix`` when moving the code would change what the program does."""
    return "\n".join(
        [
            f"{path}: not fixed, the move would change what the program does:",
            *(f"  - {problem}" for problem in problems),
            "  Change those lines first (move assignments into the functions that need "
            "them, or pass them as arguments; give a function a `def`), then run fix again; "
            "or run with --force to apply the move anyway.",
        ]
    )
