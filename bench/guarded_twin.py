"""Write the hand-guarded twin of an unguarded script, the way a user would fix it.

Imports, function and class definitions (and the module docstring) stay where they are;
every other top-level statement moves, in order, under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import ast
import textwrap

STAYS_OUTSIDE = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


def guarded_twin(source: str) -> str:
    """The source of ``source`` with its program code moved under the main guard."""
    lines = source.splitlines()
    tree = ast.parse(source)
    outside, inside = [], []
    for index, node in enumerate(tree.body):
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "\n".join(lines[first - 1 : node.end_lineno])
        is_docstring = index == 0 and isinstance(node, ast.Expr)
        (outside if is_docstring or isinstance(node, STAYS_OUTSIDE) else inside).append(text)
    guard = 'if __name__ == "__main__":\n' + textwrap.indent("\n".join(inside), "    ")
    return "\n\n".join([*outside, guard]) + "\n"
