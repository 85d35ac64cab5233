"""``spawnfix check``: find unguarded top-level code that spawn and forkserver would repeat.

Reads each file with ``ast`` (never runs it) and reports, for every top-level statement
outside ``if __name__ == "__main__":`` (and outside a dynamic guard, as at run time), the
calls that start processes or that every child would repeat:

- ``SPX001``: a process start: ``Process(...).start()`` (also through a name bound to a
  ``Process``), ``Pool``, ``ProcessPoolExecutor``, ``Manager``, ``torch.multiprocessing``
  ``spawn``/``start_processes``, iterating a ``DataLoader`` with ``num_workers`` > 0, a
  Lightning ``Trainer.fit``, a dask ``Client``/``LocalCluster``; or a call of a function of
  the same file that does one of these in its body (one level);
- ``SPX002``: ``set_start_method(...)`` (children fail with "context has already been set");
- ``SPX003``: ``wandb.init(...)`` (a duplicate run in every child).

Imports, ``def`` and ``class`` are never findings, so modules that are only imported are
not flagged for them. Names are matched as written (``mp.Pool``, ``Pool``): an alias the
checker cannot see through (``make = multiprocessing.Pool; make()``) is missed.
"""

from __future__ import annotations

import ast
import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Optional

PROCESS_START = "SPX001"
SET_START_METHOD = "SPX002"
WANDB_INIT = "SPX003"

_STARTS_BY_CALL = {
    "Pool": "creates a process Pool",
    "ProcessPoolExecutor": "creates a ProcessPoolExecutor",
    "Manager": "starts a Manager process",
    "Client": "starts dask worker processes",
    "LocalCluster": "starts dask worker processes",
    "start_processes": "starts processes (torch.multiprocessing.start_processes)",
}
_CONSTRUCTORS = {"Process": "Process", "DataLoader": "DataLoader", "Trainer": "Trainer"}


class Finding:
    """One problem at one place: ``path:line:col: CODE message``."""

    __slots__ = ("code", "col", "line", "message", "path")

    def __init__(self, path: str, line: int, col: int, code: str, message: str) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.code = code
        self.message = message

    def text(self) -> str:
        """The line linters and editors parse."""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"

    def as_dict(self) -> dict:
        """For ``--format json``."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "message": self.message,
        }


def python_files(paths: Iterable[str]) -> Iterator[str]:
    """The ``.py`` files named, and those below the folders named (sorted, no hidden)."""
    for path in paths:
        if os.path.isdir(path):
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(".py"):
                        yield os.path.join(folder, name)
        else:
            yield path


def check_file(path: str) -> list[Finding]:
    """Findings for one file; a file that does not parse gives one ``E999`` finding."""
    try:
        with open(path, "rb") as handle:
            source = handle.read()
        tree = ast.parse(source, path)
    except (OSError, SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None) or 1
        message = f"cannot read this file: {error}"
        newer = newer_syntax(error) if isinstance(error, SyntaxError) else None
        if newer is not None:
            from spawnfix import messages

            message = messages.needs_newer_python(error, *newer)
        return [Finding(path, line, 1, "E999", message)]
    return check_tree(tree, path)


# Syntax newer than some supported Python, recognised on the line the parser rejects:
# (pattern, what it is, the first Python that reads it).
_NEWER_SYNTAX = (
    (r"^\s*lazy\s+(import|from)\s", "`lazy import` (PEP 810)", (3, 15)),
    (
        r"(?<![\w\"'])t(r|R)?[\"']|(?<![\w\"'])(r|R)t[\"']",
        "a template string t'...' (PEP 750)",
        (3, 14),
    ),
    (
        r"^\s*except\*?\s+[\w.]+\s*,\s*[\w.]+.*:",
        "`except A, B:` without brackets (PEP 758)",
        (3, 14),
    ),
    (r"^\s*type\s+\w+(\[.*\])?\s*=", "a `type` alias statement (PEP 695)", (3, 12)),
    (r"^\s*(async\s+)?(def|class)\s+\w+\[", "type parameters `[T]` (PEP 695)", (3, 12)),
    (r"^\s*except\s*\*", "`except*` (PEP 654)", (3, 11)),
    (r"^\s*match\s+.+:\s*$", "a `match` statement (PEP 634)", (3, 10)),
)


def newer_syntax(error: SyntaxError) -> Optional[tuple[str, str]]:
    """(what, "3.X") when the line the parser rejected uses syntax of a newer Python than
    this one, so that the finding can say which Python reads the file."""
    import re

    text = error.text or ""
    for pattern, what, version in _NEWER_SYNTAX:
        if sys.version_info[:2] < version and re.search(pattern, text):
            return what, f"{version[0]}.{version[1]}"
    return None


def check_tree(tree: ast.Module, path: str) -> list[Finding]:
    """Findings for a parsed module."""
    starters = _functions_that_start_processes(tree)
    bound: dict[str, str] = {}  # top-level name -> constructor kind (Process, DataLoader...)
    findings: list[Finding] = []
    for node in tree.body:
        if is_guard(node):
            continue
        findings.extend(_statement_findings(node, path, bound, starters))
        _remember_bindings(node, bound)
    return findings


def is_guard(node: ast.stmt) -> bool:
    """A main guard or a dynamic guard, classified as at run time (``spawnfix.main_script``)."""
    from spawnfix.main_script import guard_kind

    return guard_kind(node) is not None


def hazards_in(node: ast.AST, bound: Optional[dict[str, str]] = None) -> list[tuple]:
    """``(line, col, code, message)`` for each hazard in ``node`` (not inside defs)."""
    bound = bound or {}
    found = []
    for part in _walk_outside_definitions(node):
        if isinstance(part, ast.Call):
            hazard = _call_hazard(part, bound)
            if hazard is not None:
                found.append((part.lineno, part.col_offset + 1, *hazard))
        elif isinstance(part, (ast.For, ast.AsyncFor, ast.comprehension)):
            name = _plain_name(part.iter)
            if name is not None and bound.get(name) == "DataLoader(workers)":
                line = getattr(part, "lineno", None) or part.iter.lineno
                col = (getattr(part, "col_offset", None) or part.iter.col_offset) + 1
                found.append(
                    (line, col, PROCESS_START, f"iterating {name} starts DataLoader workers")
                )
    return found


def _statement_findings(
    node: ast.stmt, path: str, bound: dict[str, str], starters: dict[str, tuple[int, str]]
) -> list[Finding]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    bound = dict(bound)
    for part in _walk_outside_definitions(node):
        if isinstance(part, (ast.Assign, ast.AnnAssign)):
            _remember_bindings(part, bound)
    findings = [Finding(path, *hazard) for hazard in hazards_in(node, bound)]
    for part in _walk_outside_definitions(node):
        if isinstance(part, ast.Call):
            message = _same_file_start(part, starters)
            if message is not None:
                findings.append(
                    Finding(path, part.lineno, part.col_offset + 1, PROCESS_START, message)
                )
    return sorted(findings, key=lambda finding: (finding.line, finding.col))


def _same_file_start(call: ast.Call, starters: dict[str, tuple[int, str]]) -> Optional[str]:
    """A call of a function of this file that starts processes, or one that is handed such
    a function (``Thread(target=run_pool)``, ``executor.submit(run_pool)``)."""
    if isinstance(call.func, ast.Name) and call.func.id in starters:
        line, what = starters[call.func.id]
        return f"calls {call.func.id}(), which {what} (line {line})"
    if _call_name(call) == "Process":
        return None  # the Process itself is reported where it starts
    for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
        if isinstance(argument, ast.Name) and argument.id in starters:
            line, what = starters[argument.id]
            return f"{_dotted(call.func)}() is handed {argument.id}, which {what} (line {line})"
    return None


def _call_hazard(call: ast.Call, bound: dict[str, str]) -> Optional[tuple[str, str]]:
    name = _call_name(call)
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    receiver_name = _plain_name(receiver) if receiver is not None else None
    if name == "set_start_method":
        return SET_START_METHOD, "set_start_method() runs again in every child and fails there"
    if name == "init" and receiver_name == "wandb":
        return WANDB_INIT, "wandb.init() runs again in every child: a duplicate run each"
    if name in _STARTS_BY_CALL:
        if name == "Client" and _keyword_is(call, "processes", False):
            return None
        return PROCESS_START, f"{_dotted(call.func)}() {_STARTS_BY_CALL[name]}"
    if name == "start":
        if isinstance(receiver, ast.Call) and _call_name(receiver) == "Process":
            return PROCESS_START, "Process(...).start() starts a child process"
        if receiver_name is not None and bound.get(receiver_name) == "Process":
            return PROCESS_START, f"{receiver_name}.start() starts a child process"
    if name == "spawn" and receiver_name in ("mp", "multiprocessing", "torch_mp"):
        return PROCESS_START, f"{_dotted(call.func)}() starts processes"
    if (
        name == "spawn"
        and isinstance(receiver, ast.Attribute)
        and receiver.attr == "multiprocessing"
    ):
        return PROCESS_START, f"{_dotted(call.func)}() starts processes"
    if name == "fit" and receiver_name is not None and bound.get(receiver_name) == "Trainer":
        return PROCESS_START, f"{receiver_name}.fit() starts DataLoader or ddp_spawn processes"
    return None


def _remember_bindings(node: ast.stmt, bound: dict[str, str]) -> None:
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(node.value, ast.Call):
        return
    kind = _constructor_kind(node.value)
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        if isinstance(target, ast.Name) and kind is not None:
            bound[target.id] = kind


def _constructor_kind(call: ast.Call) -> Optional[str]:
    name = _call_name(call)
    if name == "Process":
        return "Process"
    if name is not None and name.endswith("Trainer"):
        return "Trainer"
    if name == "DataLoader":
        workers = next((k.value for k in call.keywords if k.arg == "num_workers"), None)
        if workers is None and len(call.args) >= 6:
            workers = call.args[5]
        if isinstance(workers, ast.Constant) and not workers.value:
            return None
        return "DataLoader(workers)" if workers is not None else None
    return None


def _functions_that_start_processes(tree: ast.Module) -> dict[str, tuple[int, str]]:
    starters = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local_bound: dict[str, str] = {}
            for statement in node.body:
                hazards = [h for h in hazards_in(statement, local_bound) if h[2] == PROCESS_START]
                _remember_bindings(statement, local_bound)
                if hazards:
                    line, _, _, message = hazards[0]
                    starters[node.name] = (line, _what(message))
                    break
    return starters


def _what(message: str) -> str:
    # "mp.Pool() creates a process Pool" -> "creates a process Pool"
    _, _, rest = message.partition(") ")
    return rest or message


def _walk_outside_definitions(node: ast.AST) -> Iterator[ast.AST]:
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            pending.append(child)


def _call_name(call: ast.Call) -> Optional[str]:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _plain_name(node: Optional[ast.AST]) -> Optional[str]:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node)
    return None


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}(...)"
    return "..."


def _keyword_is(call: ast.Call, name: str, value: object) -> bool:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value is value
    return False


def run(paths: list[str], output_format: str = "text") -> int:
    """``spawnfix check``: print findings; exit 1 when there are any, else 0."""
    findings: list[Finding] = []
    for path in python_files(paths):
        findings.extend(check_file(path))
    if output_format == "json":
        import json

        print(json.dumps([finding.as_dict() for finding in findings], indent=2))
    else:
        for finding in findings:
            print(finding.text())
        if findings:
            from spawnfix import messages

            print(messages.check_summary(len(findings)), file=sys.stderr)
    return 1 if findings else 0
