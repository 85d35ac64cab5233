"""Analysis of a script's text: its top-level statements, and which are guarded.

Pure analysis: it reads bytes and syntax trees, never the running program (that is
``spawnfix.running_script``), and imports no other spawnfix module. A top-level statement
is classified from the source:

- inside ``if __name__ == "__main__":`` (either operand order): guarded;
- inside a *dynamic* guard, an ``if`` whose test mentions ``__name__``, ``current_process``,
  ``parent_process`` or ``MainProcess``: guarded, because children skip it natively;
- any other top-level statement: unguarded (simple or compound).

It also lists the unguarded top-level ``set_start_method(...)`` calls, which kill every
child that re-runs them. Parsing uses the built-in parser (``ast`` is never imported); a
line plainly inside ``if __name__ == "__main__":`` is told from the text alone
(``ScriptText``), without parsing.
"""

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Optional

GUARD_MAIN = "main"
GUARD_DYNAMIC = "dynamic"

SIMPLE = "simple"
COMPOUND = "compound"

_DYNAMIC_GUARD_WORDS = ("__name__", "current_process", "parent_process", "MainProcess")


# Calls and keywords by which a program names its start method (``named_start_methods``).
_METHOD_CALLS = frozenset({"get_context", "set_start_method"})
_METHOD_KEYWORDS = frozenset({"mp_context", "multiprocessing_context", "start_method"})


class TopLevelStatement:
    """One statement of the main script's module body, with the lines it spans."""

    __slots__ = ("first_line", "guard", "index", "kind", "last_line", "starts_method_calls")

    def __init__(
        self,
        index: int,
        first_line: int,
        last_line: int,
        kind: str,
        guard: "Optional[str]",
        starts_method_calls: "tuple[int, ...]",
    ) -> None:
        self.index = index
        self.first_line = first_line
        self.last_line = last_line
        self.kind = kind
        self.guard = guard
        self.starts_method_calls = starts_method_calls

    @property
    def guarded(self) -> bool:
        """Whether children skip this statement natively (main or dynamic guard)."""
        return self.guard is not None


class MainScript:
    """The main script's source and its top-level statements."""

    def __init__(
        self,
        path: str,
        source: bytes,
        statements: "list[TopLevelStatement]",
        tree: "Any" = None,
    ) -> None:
        self.path = path
        self.source = source
        self.digest = source_digest(source)
        self.statements = statements
        # The syntax tree, parsed once: the warm start, the fork-server preload and the
        # parent's values all read it in the same process.
        self.tree = tree

    @property
    def observes_its_module_name(self) -> bool:
        """Whether top-level code outside the main guard's block reads ``__name__`` (an
        ``else:`` on the guard, ``print(__name__)``, ``if __name__ == "__mp_main__":``),
        so that what the script does depends on being imported as ``__mp_main__``: it
        wants the fork server's import of it (Python 3.13.8+/3.14), which spawnfix then
        leaves in place. ``logging.getLogger(__name__)`` does not count (the parent's
        logger reaches the child either way); neither do function and class bodies."""
        return observes_its_module_name(self.tree)

    @property
    def named_start_methods(self) -> "set[Optional[str]]":
        """The start methods the source names anywhere: the first argument of
        ``get_context``/``set_start_method``, the value of ``mp_context=``,
        ``multiprocessing_context=`` and ``start_method=``; None for one that is not a
        string literal (``get_context(args.method)``)."""
        import _ast

        found: set[Optional[str]] = set()
        for node in walk(self.tree):
            if not isinstance(node, _ast.Call):
                continue
            func = node.func
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            values = list(node.args[:1]) if name in _METHOD_CALLS else []
            values += [kw.value for kw in node.keywords if kw.arg in _METHOD_KEYWORDS]
            for value in values:
                literal = isinstance(value, _ast.Constant) and isinstance(value.value, str)
                found.add(value.value if literal else None)
        return found

    def statement_at(self, line: int) -> "Optional[TopLevelStatement]":
        """Return the top-level statement whose lines include ``line``."""
        for statement in self.statements:
            if statement.first_line <= line <= statement.last_line:
                return statement
        return None

    def line_text(self, line: int) -> str:
        """Return one source line, stripped, for messages."""
        return line_text(self.source, line)

    def unguarded_start_method_calls(self, before_line: "Optional[int]" = None) -> "list[int]":
        """Lines of unguarded top-level ``set_start_method`` calls, optionally before a line."""
        found = []
        for statement in self.statements:
            if statement.guarded:
                continue
            if before_line is not None and statement.first_line >= before_line:
                break
            found.extend(statement.starts_method_calls)
        return found


class SpawnSite:
    """Where the main script's top-level code was when a child was being prepared."""

    __slots__ = ("line", "script", "statement")

    def __init__(self, script: "MainScript", line: int, statement: "Optional[TopLevelStatement]"):
        self.script = script
        self.line = line
        self.statement = statement

    @property
    def unguarded(self) -> bool:
        """Whether a child re-running the script would reach this statement."""
        return self.statement is not None and not self.statement.guarded


def _reads_module_name(node: "Any") -> bool:
    # ``__name__`` anywhere in ``node`` but as the argument of a ``getLogger`` call.
    import _ast

    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, _ast.Call):
            function = current.func
            called = getattr(function, "attr", None) or getattr(function, "id", None)
            if called == "getLogger":
                continue
        if isinstance(current, _ast.Name) and current.id == "__name__":
            return True
        pending.extend(_children(current))
    return False


def _children(node: "Any") -> "Iterator[Any]":
    import _ast

    for field in node._fields:
        value = getattr(node, field, None)
        if isinstance(value, list):
            yield from (item for item in value if isinstance(item, _ast.AST))
        elif isinstance(value, _ast.AST):
            yield value


def line_text(source: bytes, line: int) -> str:
    """One line of ``source``, stripped, for messages ("" when out of range)."""
    lines = source.decode("utf-8", "replace").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def is_bare_string(node: "Any") -> bool:
    """Whether a statement is a lone string (a docstring in first place)."""
    import _ast

    return (
        isinstance(node, _ast.Expr)
        and isinstance(node.value, _ast.Constant)
        and isinstance(node.value.value, str)
    )


def source_digest(source: bytes) -> str:
    """A cheap fingerprint of the source, so a child can tell whether the file changed."""
    # A script of usual size as one integer modulo a 61-bit prime (about 5 us a kilobyte,
    # no import: zlib costs 0.3 ms to import in the parent and in every child); zlib's
    # crc32 for larger ones, where it is the cheaper of the two.
    if len(source) <= _SMALL_SOURCE:
        return f"{int.from_bytes(source, 'little') % _DIGEST_PRIME:x}-{len(source)}"
    import zlib

    return f"{zlib.crc32(source):08x}-{len(source)}"


_SMALL_SOURCE = 48 * 2**10
_DIGEST_PRIME = 2**61 - 1


def observes_its_module_name(tree: "Any") -> bool:
    """``MainScript.observes_its_module_name`` for a parsed script."""
    import _ast

    for node in getattr(tree, "body", ()):
        if isinstance(node, _ast.If) and is_main_guard(node.test):
            if node.orelse:
                return True
            continue
        if isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)):
            continue
        if _reads_module_name(node):
            return True
    return False


def future_flags(statements: "list[Any]") -> int:
    """The compiler flags of the ``__future__`` imports that open ``statements``: each
    statement compiled alone gets them."""
    import _ast

    flags = 0
    for node in statements:
        if not (isinstance(node, _ast.ImportFrom) and node.module == "__future__"):
            if is_bare_string(node):
                continue
            break
        import __future__

        for alias in node.names:
            feature = getattr(__future__, alias.name, None)
            flags |= getattr(feature, "compiler_flag", 0)
    return flags


def parse_module(source: bytes, filename: str) -> "Any":
    """Parse ``source`` into a syntax tree with the C parser directly.

    ``import ast`` costs 1-2 ms, paid by every program that starts a child; ``_ast`` (the
    built-in module ``ast`` re-exports) and ``compile`` cost nothing extra.
    """
    import _ast

    return compile(source, filename, "exec", _ast.PyCF_ONLY_AST, dont_inherit=True)


def defining_node_types() -> "tuple[type, ...]":
    """Syntax nodes that define names a child must have: functions, classes, lambdas,
    imports."""
    import _ast

    return (
        _ast.FunctionDef,
        _ast.AsyncFunctionDef,
        _ast.ClassDef,
        _ast.Lambda,
        _ast.Import,
        _ast.ImportFrom,
    )


def walk(node: "Any") -> "Iterator[Any]":
    """Every node below ``node``, ``node`` included (like ``ast.walk``, without ``ast``)."""

    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(_children(current))


def describe_statements(tree: "Any") -> "list[TopLevelStatement]":
    """Describe each top-level statement of a parsed module."""
    statements = []
    for index, node in enumerate(tree.body):
        first_line = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        last_line = getattr(node, "end_lineno", None) or node.lineno
        kind = COMPOUND if _is_compound(node) else SIMPLE
        guard = guard_kind(node)
        calls = () if guard else _start_method_calls(node)
        statements.append(TopLevelStatement(index, first_line, last_line, kind, guard, calls))
    return statements


def is_main_guard(test: "Any") -> bool:
    """Whether an ``if`` test is ``__name__ == "__main__"`` (either operand order)."""
    import _ast

    if not (isinstance(test, _ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], _ast.Eq):
        return False
    operands = [test.left, test.comparators[0]]
    names = [o for o in operands if isinstance(o, _ast.Name) and o.id == "__name__"]
    constants = [o for o in operands if isinstance(o, _ast.Constant) and o.value == "__main__"]
    return len(names) == 1 and len(constants) == 1


def guard_kind(node: "Any") -> "Optional[str]":
    """``GUARD_MAIN``, ``GUARD_DYNAMIC`` or None for a top-level statement (see above)."""
    import _ast

    if not isinstance(node, _ast.If):
        return None
    if is_main_guard(node.test):
        return GUARD_MAIN
    for part in walk(node.test):
        word = (
            getattr(part, "id", None) or getattr(part, "attr", None) or getattr(part, "value", None)
        )
        if isinstance(word, str) and word in _DYNAMIC_GUARD_WORDS:
            return GUARD_DYNAMIC
    return None


_COMPOUND_NODES = (
    "If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar", "Match",
    "FunctionDef", "AsyncFunctionDef", "ClassDef",
)  # fmt: skip


def _is_compound(node: "Any") -> bool:
    return type(node).__name__ in _COMPOUND_NODES


def _start_method_calls(node: "Any") -> "tuple[int, ...]":
    # ``set_start_method`` calls that run when the statement runs: a function's body runs
    # when it is called (``def main(): set_start_method(...)`` is the guarded idiom), its
    # decorators and defaults at once.
    import _ast

    lines = []
    pending = [node]
    while pending:
        part = pending.pop()
        if isinstance(part, (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.Lambda)):
            pending.extend(getattr(part, "decorator_list", ()))
            pending.extend(part.args.defaults)
            pending.extend(default for default in part.args.kw_defaults if default is not None)
            continue
        if isinstance(part, _ast.Call):
            name = getattr(part.func, "attr", None) or getattr(part.func, "id", None)
            if name == "set_start_method":
                lines.append(part.lineno)
        pending.extend(_children(part))
    return tuple(sorted(lines))


def absolute_path(filename: str) -> str:
    """``filename`` made absolute against the directory the program started in, as
    multiprocessing.spawn does, not the current one (Python 3.8 keeps a relative path)."""
    if os.path.isabs(filename):
        return os.path.normpath(filename)
    process = sys.modules.get("multiprocessing.process")
    start_dir = getattr(process, "ORIGINAL_DIR", None) or os.getcwd()
    return os.path.normpath(os.path.join(start_dir, filename))


class ScriptText:
    """The main script's lines, and which main guards the text check has confirmed."""

    def __init__(self, source: bytes, path: str) -> None:
        self.source = source
        self.path = path
        self.lines = source.splitlines()
        # Guard line -> whether it opens a top-level block with no set_start_method
        # written outside it; decided once per guard.
        self.guards: dict[int, bool] = {}

    def in_main_guard(self, line: int) -> bool:
        guard = _main_guard_above(self.lines, line)
        if guard is None:
            return False
        if guard not in self.guards:
            self.guards[guard] = self._confirmed(guard)
        return self.guards[guard]

    def _confirmed(self, guard: int) -> bool:
        lines = self.lines
        if b"set_start_method" in self.source:
            end = _block_end(lines, guard)
            outside = lines[: guard - 1] + lines[end:]
            if any(b"set_start_method" in text for text in outside):
                return False
        # The guard starts a statement only if what comes before it is a whole module:
        # otherwise it is text inside a string or brackets.
        try:
            compile(b"\n".join(lines[: guard - 1]) + b"\n", self.path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
        return True


_MAIN_GUARD_LINES = frozenset(
    {
        b'if__name__=="__main__":',
        b"if__name__=='__main__':",
        b'if"__main__"==__name__:',
        b"if'__main__'==__name__:",
    }
)


def _main_guard_above(lines: "list[bytes]", line: int) -> "Optional[int]":
    # The number of the main guard's line whose block holds ``line`` (1-based), told by
    # indentation: the nearest code line above it at column 0 must be the guard.
    if not 0 < line <= len(lines) or not _indented(lines[line - 1]):
        return None
    for number in range(line - 1, 0, -1):
        text = lines[number - 1]
        if _indented(text) or _blank_or_comment(text):
            continue
        code = text.split(b"#", 1)[0].replace(b" ", b"").replace(b"\t", b"")
        return number if code in _MAIN_GUARD_LINES else None
    return None


def _block_end(lines: "list[bytes]", guard: int) -> int:
    # The last line of the guard's block: the line before the next code line at column 0.
    for number in range(guard + 1, len(lines) + 1):
        text = lines[number - 1]
        if not _indented(text) and not _blank_or_comment(text):
            return number - 1
    return len(lines)


def _indented(text: bytes) -> bool:
    return text[:1] in (b" ", b"\t") and bool(text.strip())


def _blank_or_comment(text: bytes) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith(b"#")
