"""Which top-level statements call ``set_start_method`` when they run (the script analysis
of ``spawnfix.main_script``): a function's body runs when it is called, not at import."""

from __future__ import annotations

import ast

from spawnfix import main_script


def calls(source: str) -> list[tuple[int, ...]]:
    tree = compile(source, "<script>", "exec", ast.PyCF_ONLY_AST)
    return [statement.starts_method_calls for statement in main_script.describe_statements(tree)]


def test_a_top_level_call_counts():
    assert calls("import multiprocessing as mp\nmp.set_start_method('spawn')\n") == [(), (2,)]


def test_a_call_in_a_function_body_does_not():
    source = (
        "def main():\n    mp.set_start_method('spawn')\n\n"
        "async def run():\n    set_start_method('x')\n"
    )
    assert calls(source) == [(), ()]


def test_a_lambda_body_does_not():
    assert calls("choose = lambda: mp.set_start_method('spawn')\n") == [()]


def test_decorators_defaults_and_class_bodies_run_at_once():
    source = (
        "@register(mp.set_start_method('spawn'))\n"
        "def f(x=mp.set_start_method('fork'), *, y=set_start_method('z')):\n"
        "    mp.set_start_method('never')\n"
        "class C:\n"
        "    mp.set_start_method('forkserver')\n"
        "    def m(self):\n"
        "        mp.set_start_method('never')\n"
    )
    assert calls(source) == [(1, 2, 2), (5,)]


def test_an_unguarded_if_block_counts_and_the_guard_does_not():
    source = (
        "import sys\n"
        "if sys.platform == 'linux':\n"
        "    mp.set_start_method('fork')\n"
        "if __name__ == '__main__':\n"
        "    mp.set_start_method('spawn')\n"
    )
    assert calls(source) == [(), (3,), ()]
