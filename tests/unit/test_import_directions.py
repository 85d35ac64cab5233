"""Which spawnfix modules import which: child modules never import parent modules,
analysis never imports a runtime hook, and no new import cycle appears.

Imports inside functions count as much as those at the top (most of spawnfix's are
inside functions, to keep startup free). docs/how-it-works.md has the module map.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "spawnfix"

# Code that runs only in a child process (a spawn or forkserver child preparing itself).
CHILD = {
    "child_exit",
    "child_shared_buffers",
    "child_start",
    "child_values",
    "effect_guard",
    "quiet_imports",
    "rerun",
    "rerun_databases",
    "rerun_files",
    "rerun_state",
    "shared_writes",
    "startup_reports",
}
# Code that runs only in a parent (a process starting children).
PARENT = {
    "by_value",
    "mp_hooks",
    "parent_shared_buffers",
    "parent_values",
    "pool_watchdog",
    "process_state",
    "program_code_pickling",
    "start_method_choice",
    "wandb_hook",
    "warm_forkserver",
}
# Reads source text and syntax trees, never the running program.
ANALYSIS = {"main_script", "static_check", "guard_fix", "user_modules"}
# What analysis may use besides itself: user-facing texts.
ANALYSIS_MAY_IMPORT = ANALYSIS | {"messages"}

# Imports on a cycle, as pairs: none is left, and a new one fails the test. A child
# becomes a parent through the package's own hooks
# (``spawnfix.install_parent_side_at_first_launch``), not by importing the parent side.
KNOWN_CYCLES: set[frozenset[str]] = set()


def spawnfix_imports(path: Path) -> set[str]:
    """The spawnfix modules ``path`` imports anywhere in its code."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    # ``if TYPE_CHECKING:`` imports are for annotations and never run.
    annotations_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or node.module == "spawnfix":
                names = [node.module] if node.level == 1 and node.module else []
                names += [alias.name for alias in node.names]
            elif node.module and node.module.startswith("spawnfix."):
                names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("spawnfix.")]
        found.update(name for name in names if name in modules)
    found.discard(path.stem)
    return found


def import_graph() -> dict[str, set[str]]:
    return {path.stem: spawnfix_imports(path) for path in PACKAGE.glob("*.py")}


def cycle_edges(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Imports ``a -> b`` on an import cycle (``b`` reaches ``a`` back), as pairs."""

    def reach(start: str) -> set[str]:
        seen, pending = set(), [start]
        while pending:
            for target in graph.get(pending.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    pending.append(target)
        return seen

    reached = {module: reach(module) for module in graph}
    return {frozenset({a, b}) for a in graph for b in graph[a] if a in reached[b]}


def test_every_module_is_placed():
    """A new module is placed on a side here (or is shared on purpose)."""
    shared = {
        "__init__",
        "__main__",
        "cli",
        "config",
        "demo",
        "diagnostics",
        "errors",
        "forkserver_exit",
        "forkserver_preload",
        "global_references",
        "handoff",
        "inherited_config",
        "messages",
        "private_api",
        "run_command",
        "run_preload",
        "running_script",
        "shared_files",
        "thread_sites",
    }
    placed = CHILD | PARENT | ANALYSIS | shared
    assert set(import_graph()) == placed


def test_child_modules_import_no_parent_module():
    graph = import_graph()
    wrong = {(child, target) for child in CHILD for target in graph[child] if target in PARENT}
    assert not wrong


def test_analysis_imports_no_runtime_hook():
    graph = import_graph()
    wrong = {module: graph[module] - ANALYSIS_MAY_IMPORT for module in ANALYSIS}
    assert not any(wrong.values()), wrong


def test_no_new_import_cycles():
    found = cycle_edges(import_graph())
    assert found - KNOWN_CYCLES == set(), "new import cycles"
    assert KNOWN_CYCLES - found == set(), "cycles gone: take them off KNOWN_CYCLES"


def test_the_graph_reader_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "from spawnfix import config\n"
        "def f():\n"
        "    from spawnfix.mp_hooks import install\n"
        "    import spawnfix.rerun\n"
        "    from . import messages\n"
        "    from .errors import UnguardedMainError\n"
    )
    assert spawnfix_imports(source) == {"config", "mp_hooks", "rerun", "messages", "errors"}
