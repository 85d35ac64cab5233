"""Which children a script gets (fork's values or spawn's), as ``spawnfix doctor SCRIPT``
says and ``spawnfix.main_script`` reads it from the source."""

from __future__ import annotations

import pytest

from spawnfix import cli, config, running_script

CHOOSES = """import multiprocessing
def work(x):
    return x
if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print(pool.map(work, range(3)))
"""
BY_VARIABLE = CHOOSES.replace('get_context("spawn")', "get_context(method)")
KEYWORD = """from concurrent.futures import ProcessPoolExecutor
if __name__ == "__main__":
    ProcessPoolExecutor(mp_context=ctx, max_workers=2)
"""
NAMES_NONE = CHOOSES.replace('.get_context("spawn").Pool(2)', ".Pool(2)")
UNGUARDED = """import multiprocessing
def work(x):
    return x
with multiprocessing.Pool(2) as pool:
    print(pool.map(work, range(3)))
"""


@pytest.mark.parametrize(
    ("source", "names"),
    [(CHOOSES, {"spawn"}), (BY_VARIABLE, {None}), (KEYWORD, {None}), (NAMES_NONE, set())],
)
def test_named_start_methods(tmp_path, source, names):
    path = tmp_path / "train.py"
    path.write_text(source)
    assert running_script.load_script(str(path)).named_start_methods == names


@pytest.fixture
def auto_config(monkeypatch):
    for name in ("SPAWNFIX", "SPAWNFIX_VALUES"):
        monkeypatch.delenv(name, raising=False)
    config.reload()
    yield
    config.reload()


@pytest.mark.parametrize(
    ("source", "verdict"),
    [
        (CHOOSES, "compute their own globals, as natively: it chooses its start method ('spawn')"),
        (UNGUARDED, "get the parent's values, as under fork (it starts processes outside"),
    ],
)
def test_doctor_says_which_children_a_script_gets(tmp_path, auto_config, source, verdict):
    path = tmp_path / "train.py"
    path.write_text(source)
    (line,) = cli.children_report(str(path))
    assert line.startswith(f"children of {path}: ") and verdict in line, line


def test_doctor_names_the_setting_that_forces_fork_values(tmp_path, monkeypatch):
    path = tmp_path / "train.py"
    path.write_text(CHOOSES)
    monkeypatch.setenv("SPAWNFIX_VALUES", "fork")
    config.reload()
    try:
        (line,) = cli.children_report(str(path))
    finally:
        monkeypatch.delenv("SPAWNFIX_VALUES")
        config.reload()
    assert "as under fork (SPAWNFIX_VALUES=fork)" in line, line
