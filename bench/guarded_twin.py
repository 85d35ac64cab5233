"""Write the hand-guarded twin of an unguarded script, the way a user would fix it.

Imports, function and class definitions (and the module docstring) stay where they are;
every other top-level statement moves, in order, under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import ast
import tempfile
import textwrap
from pathlib import Path

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


def compare_with_guarded_twin(unguarded: Path, runs: int, **env: str) -> None:
    """Time ``unguarded`` under spawnfix against its guarded twin with and without
    spawnfix, interleaved, and print the medians and their ratios as a table; ``env``
    is added to every run's environment."""
    from common import environments, interleaved, machine_description, median_ms, time_command

    envs = environments([])
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-twin-"))
    guarded = folder / unguarded.name.replace("unguarded", "guarded")
    guarded.write_text(guarded_twin(unguarded.read_text()))
    samples = interleaved(
        {
            "guarded twin, without spawnfix": lambda: time_command(
                [envs["without"].python, str(guarded)], **env
            ),
            "guarded twin, with spawnfix": lambda: time_command(
                [envs["with"].python, str(guarded)], **env
            ),
            "unguarded, with spawnfix": lambda: time_command(
                [envs["with"].python, str(unguarded)], SPAWNFIX="quiet", **env
            ),
        },
        runs,
    )
    medians = {name: median_ms(values) for name, values in samples.items()}
    base = medians["guarded twin, without spawnfix"]
    settings = ", ".join(f"{name}={value}" for name, value in env.items())
    print(f"machine: {machine_description()}; {runs} interleaved runs each; {settings}\n")
    print("| script | median wall time | ratio to guarded twin without spawnfix |")
    print("|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} ms | {value / base:.3f} |")
