"""``spawnfix fix``: move a script's program code under ``if __name__ == "__main__":``.

The rewrite is made with libcst, so that comments, blank lines and formatting stay as
they were; only the moved statements are re-indented. What stays at the top level:

- the module docstring, ``from __future__`` imports, imports, ``def`` and ``class``
  statements, and compound statements made only of those (``try: import x``);
- the top-level assignments that the script's functions and classes read (a worker
  function reading ``SCALE``), and what those assignments themselves need;
- assignments to dunder names (``__all__``, ``__version__``).

Everything else moves, in its order, into one guard block after the last statement that
stays; the body of an existing main guard is merged into it. The fix is refused (unless
``force``) when moving would change what the program does: a name a function or class
reads is assigned by a statement that cannot stay outside (it starts processes, or is a
loop or ``with`` block) or after the program starts processes (keeping it outside would
run it earlier), or a function declares ``global`` a name that the moved code assigns.
Needs libcst (``pip install 'spawnfix[fix]'``).

A file is read as Python reads it (its coding declaration or BOM, ``tokenize.detect_encoding``)
and written back in that encoding, with its BOM and its line ending; a file with mixed line
endings is written with its first one throughout.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import symtable

from spawnfix import messages, static_check
from spawnfix.main_script import is_bare_string

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

GUARD_TEST = '__name__ == "__main__"'


class FixResult:
    """What ``plan_fix`` decided for one file."""

    def __init__(self, path: str, source: str, new_source: str, problems: list[str]) -> None:
        self.path = path
        self.source = source
        self.new_source = new_source
        self.problems = problems

    @property
    def changed(self) -> bool:
        """Whether the rewrite differs from the file."""
        return self.new_source != self.source

    def diff(self) -> str:
        """The unified diff from the file to its rewrite."""
        return "".join(
            difflib.unified_diff(
                self.source.splitlines(keepends=True),
                self.new_source.splitlines(keepends=True),
                fromfile=self.path,
                tofile=self.path,
            )
        )


class SourceFile:
    """A script's text, with ``\n`` line endings, and how to write it back as it was."""

    def __init__(self, text: str, encoding: str, newline: str) -> None:
        self.text = text
        self.encoding = encoding  # "utf-8-sig" for a file that starts with a BOM
        self.newline = newline

    @classmethod
    def from_bytes(cls, data: bytes) -> SourceFile:
        """Decode ``data`` as Python would; raises ``SyntaxError`` for an unknown or
        conflicting coding declaration, ``UnicodeDecodeError`` for bytes it does not fit."""
        import tokenize

        # The first two lines, ended by \r too (tokenize's readline would take a whole
        # old-Mac file for its first line).
        lines = iter(data.splitlines(keepends=True)[:2])
        encoding, _ = tokenize.detect_encoding(lambda: next(lines, b""))
        raw = data.decode(encoding)
        text = raw.replace("\r\n", "\n").replace("\r", "\n")
        return cls(text, encoding, _first_newline(raw))

    def to_bytes(self, text: str) -> bytes:
        """``text`` (``\n`` line endings) as the file's bytes: its encoding, BOM and newline."""
        if self.newline != "\n":
            text = text.replace("\n", self.newline)
        return text.encode(self.encoding)


def _first_newline(raw: str) -> str:
    for index, character in enumerate(raw):
        if character == "\n":
            return "\n"
        if character == "\r":
            return "\r\n" if raw[index + 1 : index + 2] == "\n" else "\r"
    return "\n"


def plan_fix(path: str, source: str) -> FixResult:
    """Decide the rewrite of ``source``; nothing to do for a script without findings."""
    tree = ast.parse(source, path)
    if not static_check.check_tree(tree, path):
        return FixResult(path, source, source, [])
    keep, hoisted, problems = _statements_to_keep(tree, source, path)
    new_source = _rewrite(source, tree, keep, hoisted)
    return FixResult(path, source, new_source, problems)


def _statements_to_keep(
    tree: ast.Module, source: str, path: str
) -> tuple[set[int], list[ast.stmt], list[str]]:
    """Indexes of the top-level statements that stay outside the guard, the definitions
    hoisted out of moved compound statements, and the reasons the move would change the
    program (empty when it is safe)."""
    body = tree.body
    keep = {i for i, node in enumerate(body) if _is_definition(node, i)}
    known = set(dir(builtins)) | _bound_by([body[i] for i in keep])
    hoisted, problems = _definitions_to_hoist(tree, keep, known)
    known |= {node.name for node in hoisted}
    kept_definitions = [body[i] for i in sorted(keep)] + hoisted
    reads = _names_read_by_definitions(source, path, kept_definitions)
    pending = [(name, reader) for name, reader in reads if name not in known]
    findings = static_check.check_tree(tree, path)
    program_starts = min(finding.line for finding in findings) if findings else None
    while pending:
        name, reader = pending.pop()
        binders = [i for i, node in enumerate(body) if i not in keep and name in _bound_by([node])]
        for index in binders:
            node = body[index]
            simple = isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            if program_starts is not None and node.lineno > program_starts:
                problems.append(
                    f"{reader} reads the global {name!r}, which line {node.lineno} assigns after "
                    f"the program starts processes (line {program_starts}); keeping it outside "
                    "the guard would run it before them"
                )
            elif simple and not static_check.hazards_in(node) and not static_check.is_guard(node):
                keep.add(index)
                for needed in _module_level_reads(node):
                    if needed not in known:
                        pending.append((needed, f"the assignment at line {node.lineno}"))
                known |= _bound_by([node])
            else:
                problems.append(
                    f"{reader} reads the global {name!r}, which line {node.lineno} assigns in "
                    "code that must move under the guard; in the workers it would not exist"
                )
    problems.extend(_global_statement_problems(tree, keep, hoisted))
    return keep, hoisted, problems


def _definitions_to_hoist(
    tree: ast.Module, keep: set[int], known: set[str]
) -> tuple[list[ast.stmt], list[str]]:
    """The ``def`` and ``class`` statements inside compound statements that move (a ``for``,
    ``with``, ``try`` or ``if`` at the top level): they are module globals, and a child looks
    them up by name in the module it re-imports, where under the guard they would be
    missing. Each is hoisted to the top level when its header (decorators, defaults,
    bases) reads only what stays outside and it is its name's only definition; otherwise
    the reason goes into the problems. A name bound to a ``lambda`` that is handed to a
    child cannot be looked up by name at all: also a problem."""
    moved = [
        node
        for i, node in enumerate(tree.body)
        if i not in keep and not static_check.is_guard(node)
    ]
    definition_count: dict[str, int] = {}
    for node in tree.body:
        for name in _bound_by([node]):
            definition_count[name] = definition_count.get(name, 0) + _times_bound(node, name)
    hoisted: list[ast.stmt] = []
    problems: list[str] = []
    for statement in moved:
        if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.Expr, ast.AugAssign)):
            continue
        for definition in _module_scope_definitions(statement):
            header = [*definition.decorator_list, *getattr(definition, "bases", [])]
            if not isinstance(definition, ast.ClassDef):
                header.extend([*definition.args.defaults, *definition.args.kw_defaults])
            header_reads = set()
            for part in header:
                if part is not None:
                    header_reads |= _module_level_reads(part)
            kind = "class" if isinstance(definition, ast.ClassDef) else "function"
            where = (
                f"{kind} {definition.name} (line {definition.lineno}) is defined inside the "
                f"statement at line {statement.lineno}, which moves under the guard"
            )
            if definition_count.get(definition.name, 0) > 1:
                problems.append(
                    f"{where}; its name is defined more than once, so a child would look up "
                    "another one"
                )
            elif header_reads - known:
                missing = ", ".join(sorted(header_reads - known))
                problems.append(
                    f"{where}; its decorators, defaults or bases read {missing}, which the "
                    "moved code sets, so it cannot move out of the guard"
                )
            else:
                hoisted.append(definition)
    problems.extend(_lambdas_handed_to_children(tree, moved))
    return hoisted, problems


def _times_bound(node: ast.stmt, name: str) -> int:
    """How often ``node`` binds the global ``name`` (not counting function locals)."""
    count = 0
    pending: list[ast.AST] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            count += current.name == name
            if current is not node or not isinstance(node, ast.stmt):
                continue
            pending.extend([*current.decorator_list, *getattr(current, "bases", [])])
            continue
        if isinstance(current, ast.Lambda):
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            count += current.id == name
        elif isinstance(current, ast.alias):
            count += (current.asname or current.name).split(".")[0] == name
        pending.extend(ast.iter_child_nodes(current))
    return count


def _module_scope_definitions(statement: ast.stmt) -> list[ast.stmt]:
    """``def``/``class`` statements nested in ``statement`` whose name is a module global
    (not inside another function or class)."""
    found = []
    pending: list[ast.AST] = [statement]
    while pending:
        current = pending.pop()
        for child in ast.iter_child_nodes(current):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append(child)
            elif isinstance(child, (ast.stmt, ast.excepthandler)):
                pending.append(child)
    return sorted(found, key=lambda node: node.lineno)


# Calls that hand a function to a child process: Process(target=...), a pool's or an
# executor's map/apply/submit, torch's spawn.
_HANDS_TO_CHILD = {
    "Process",
    "map",
    "imap",
    "imap_unordered",
    "starmap",
    "map_async",
    "starmap_async",
    "apply",
    "apply_async",
    "submit",
    "spawn",
    "start_processes",
}


def _lambdas_handed_to_children(tree: ast.Module, moved: list[ast.stmt]) -> list[str]:
    lambdas = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    lambdas[target.id] = node.lineno
    problems = []
    for statement in moved:
        for call in ast.walk(statement):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in _HANDS_TO_CHILD:
                continue
            for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
                if isinstance(argument, ast.Name) and argument.id in lambdas:
                    problems.append(
                        f"line {call.lineno} hands {argument.id!r} to a child process, and line "
                        f"{lambdas[argument.id]} binds it to a lambda: spawn and forkserver "
                        "children look functions up by name, which a lambda does not have; "
                        f"write it as `def {argument.id}(...):` at the top level first"
                    )
    return problems


def _is_definition(node: ast.stmt, index: int) -> bool:
    if isinstance(node, (ast.Import, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.ImportFrom):
        return True
    if index == 0 and is_bare_string(node):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        return bool(names) and all(n.startswith("__") and n.endswith("__") for n in names)
    if isinstance(node, (ast.If, ast.Try)) and not static_check.is_guard(node):
        parts = [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
        for handler in getattr(node, "handlers", []):
            parts.extend(handler.body)
        return not static_check.hazards_in(node) and all(
            _is_definition(part, 1) or isinstance(part, (ast.Pass, ast.Raise)) for part in parts
        )
    return False


def _bound_by(nodes: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        for part in ast.walk(node):
            if isinstance(part, ast.Name) and isinstance(part.ctx, ast.Store):
                names.add(part.id)
            elif isinstance(part, ast.alias):
                names.add((part.asname or part.name).split(".")[0])
            elif isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(part.name)
    return names


def _module_level_reads(node: ast.AST) -> set[str]:
    return {
        part.id
        for part in ast.walk(node)
        if isinstance(part, ast.Name) and isinstance(part.ctx, ast.Load)
    }


def _names_read_by_definitions(
    source: str, path: str, kept: list[ast.stmt]
) -> list[tuple[str, str]]:
    """(global name, who reads it) for every kept def and class: the globals their bodies
    read (symtable), and what their decorators, defaults and bases read."""
    table = symtable.symtable(source, path, "exec")
    reads: list[tuple[str, str]] = []
    children = {child.get_name(): child for child in table.get_children()}
    for node in kept:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            who = f"{'class' if isinstance(node, ast.ClassDef) else 'function'} {node.name}"
            child = children.get(node.name)
            if child is not None:
                reads.extend((name, who) for name in sorted(_globals_of(child)))
            header = [*node.decorator_list, *getattr(node, "bases", [])]
            if not isinstance(node, ast.ClassDef):
                header.extend([*node.args.defaults, *node.args.kw_defaults])
            for part in header:
                if part is not None:
                    reads.extend((name, who) for name in sorted(_module_level_reads(part)))
    return reads


def _globals_of(table: Any) -> set[str]:
    names = set()
    if table.get_type() in ("function", "class"):
        is_class = table.get_type() == "class"
        for symbol in table.get_symbols():
            # A class body reads unassigned names from the module at definition time.
            from_module = symbol.is_global() or (is_class and not symbol.is_assigned())
            if from_module and symbol.is_referenced():
                names.add(symbol.get_name())
    for child in table.get_children():
        names |= _globals_of(child)
    return names


def _global_statement_problems(
    tree: ast.Module, keep: set[int], hoisted: list[ast.stmt]
) -> list[str]:
    moved_names = _bound_by([node for i, node in enumerate(tree.body) if i not in keep])
    moved_names -= {node.name for node in hoisted}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for part in ast.walk(node):
                if isinstance(part, ast.Global):
                    for name in part.names:
                        if name in moved_names:
                            problems.append(
                                f"function {node.name} declares `global {name}` (line "
                                f"{part.lineno}), which the moved code assigns; in the workers "
                                "it would start out missing"
                            )
    return problems


def _rewrite(source: str, tree: ast.Module, keep: set[int], hoisted: list[ast.stmt]) -> str:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module)
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module
    lines_kept = {tree.body[i].lineno for i in keep}
    moved_lines = {node.lineno for i, node in enumerate(tree.body) if i not in keep}
    # libcst may place a decorated definition at its decorator or at its ``def`` line.
    hoist_lines = {line for node in hoisted for line in (_first_line(node), node.lineno)}
    hoist = _Hoist(positions, hoist_lines, cst)
    outside: list[Any] = []
    inside: list[Any] = []
    for statement in module.body:
        start = positions[statement].start.line
        end = positions[statement].end.line
        lines = set(range(start, end + 1))
        if lines & moved_lines and not (lines & lines_kept and _is_simple_line(statement)):
            if hoist.starts and not _is_simple_line(statement):
                statement = statement.visit(hoist.transformer())
                outside.extend(hoist.take())
            inside.extend(_unwrap_main_guard(statement, cst))
        else:
            outside.append(statement)
    if not inside:
        return source
    inside = [_without_indented_blank_lines(statement, cst) for statement in inside]
    # The blank lines before the first moved statement go before the guard; its comments
    # stay with it, inside.
    first = inside[0]
    lines = list(getattr(first, "leading_lines", ()))
    blank = 0
    while blank < len(lines) and lines[blank].comment is None:
        blank += 1
    leading = lines[:blank]
    if hoisted and len(leading) < 2:
        leading = [cst.EmptyLine(), cst.EmptyLine()]
    inside[0] = first.with_changes(leading_lines=lines[blank:])
    guard = cst.If(
        test=cst.parse_expression(GUARD_TEST),
        body=cst.IndentedBlock(body=inside),
        leading_lines=leading or [cst.EmptyLine(), cst.EmptyLine()],
    )
    return module.with_changes(body=[*outside, guard]).code


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(decorator.lineno for decorator in decorators)])


class _Hoist:
    """Takes the hoisted ``def``/``class`` statements out of a moved compound statement
    (an emptied block gets ``pass``); ``take`` hands them over for the top level."""

    def __init__(self, positions: Any, starts: set[int], cst: Any) -> None:
        self.positions = positions
        self.starts = starts
        self.cst = cst
        self.taken: list[Any] = []
        self.removed: set[Any] = set()  # the original nodes taken out

    def transformer(self) -> Any:
        cst = self.cst
        hoist = self

        class Transformer(cst.CSTTransformer):
            def leave_FunctionDef(self, original: Any, updated: Any) -> Any:
                return hoist.leave_definition(original, updated)

            def leave_ClassDef(self, original: Any, updated: Any) -> Any:
                return hoist.leave_definition(original, updated)

            def leave_IndentedBlock(self, original: Any, updated: Any) -> Any:
                if not updated.body:
                    return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
                first = updated.body[0]
                if original.body[0] in hoist.removed:
                    # The block's new first statement loses the blank lines that
                    # separated it from the hoisted definition.
                    lines = list(first.leading_lines)
                    while lines and lines[0].comment is None:
                        lines.pop(0)
                    updated = updated.with_changes(
                        body=[first.with_changes(leading_lines=lines), *updated.body[1:]]
                    )
                return updated

        return Transformer()

    def leave_definition(self, original: Any, updated: Any) -> Any:
        position = self.positions.get(original)
        if position is None or position.start.line not in self.starts:
            return updated
        leading = list(updated.leading_lines)
        while leading and leading[0].comment is None:
            leading.pop(0)
        leading = [self.cst.EmptyLine(), self.cst.EmptyLine(), *leading]
        self.taken.append(updated.with_changes(leading_lines=leading))
        self.removed.add(original)
        return self.cst.RemoveFromParent()

    def take(self) -> list[Any]:
        taken, self.taken = self.taken, []
        return taken


def _without_indented_blank_lines(statement: Any, cst: Any) -> Any:
    # Blank lines before a moved statement stay blank: libcst would indent them.
    lines = [
        line.with_changes(indent=False) if line.comment is None else line
        for line in getattr(statement, "leading_lines", ())
    ]
    return statement.with_changes(leading_lines=lines) if lines else statement


def _is_simple_line(statement: Any) -> bool:
    import libcst as cst

    return isinstance(statement, cst.SimpleStatementLine)


def _unwrap_main_guard(statement: Any, cst: Any) -> list[Any]:
    """The body of an existing ``if __name__ == "__main__":`` (merged into the new one),
    or the statement itself."""
    if isinstance(statement, cst.If) and statement.orelse is None:
        test = cst.Module(body=[]).code_for_node(statement.test).replace("'", '"')
        if test in (GUARD_TEST, '"__main__" == __name__'):
            body = list(statement.body.body)
            if body and statement.leading_lines:
                body[0] = body[0].with_changes(
                    leading_lines=[*statement.leading_lines, *body[0].leading_lines]
                )
            return body
    return [statement]


def run(paths: list[str], write: bool = False, force: bool = False) -> int:
    """``spawnfix fix``: show (or write) the rewrite of each script that needs one.

    Exit 0 when every file was fine or fixed (or shown), 1 when a fix was refused.
    """
    import sys

    try:
        import libcst  # noqa: F401
    except ImportError:
        print(messages.FIX_NEEDS_LIBCST, file=sys.stderr)
        return 2
    status = 0
    for path in static_check.python_files(paths):
        try:
            with open(path, "rb") as handle:
                file = SourceFile.from_bytes(handle.read())
        except (OSError, SyntaxError, UnicodeDecodeError) as error:
            print(messages.fix_cannot_read(path, error), file=sys.stderr)
            status = 1
            continue
        try:
            result = plan_fix(path, file.text)
        except SyntaxError as error:
            print(messages.fix_cannot_parse(path, error), file=sys.stderr)
            status = 1
            continue
        if not result.changed:
            continue
        if result.problems and not force:
            print(messages.fix_refused(path, result.problems), file=sys.stderr)
            status = 1
            continue
        if write:
            try:
                data = file.to_bytes(result.new_source)
            except UnicodeEncodeError as error:
                print(messages.fix_cannot_write(path, error), file=sys.stderr)
                status = 1
                continue
            with open(path, "wb") as handle:
                handle.write(data)
            print(f"fixed {path}", file=sys.stderr)
        else:
            sys.stdout.write(result.diff())
    return status
