"""The startup hook (issue 28): spawnfix.pth's line, which imports start spawnfix, and the
doctor's note for Pythons that ignore ``.pth`` import lines."""

import pytest

import _spawnfix_startup as startup
import spawnfix
from spawnfix import cli

from .conftest import REPO

HOOKED_MODULES = [
    name for name, _ in (*spawnfix._PARENT_HOOKS, *spawnfix._PARENT_HOOKS_BEFORE, *spawnfix._HOOKS)
]


def _top(name: str) -> str:
    return name.partition(".")[0]


def test_every_module_spawnfix_hooks_starts_it():
    """Each module of the hook table is watched, itself or through its top-level package
    (imported first), and nothing else is: a watched name that no hook needs would import
    spawnfix into programs that never need it."""
    for name in HOOKED_MODULES:
        assert name in startup.WATCHED or _top(name) in startup.WATCHED, name
    for name in startup.WATCHED:
        assert name in HOOKED_MODULES or name in map(_top, HOOKED_MODULES), name


def test_asyncio_does_not_start_spawnfix():
    """asyncio imports concurrent.futures, not concurrent.futures.process, which is watched
    by its own name (it imports multiprocessing midway, too late for its hook)."""
    assert "concurrent.futures.process" in startup.WATCHED
    assert not {"concurrent", "concurrent.futures"} & startup.WATCHED


@pytest.mark.parametrize("name", ["json", "multiprocessing.spawn", "torchvision", "spawnfix"])
def test_other_imports_are_answered_at_once(name):
    """Any other name, submodules of watched packages included, gets None without a look
    at spawnfix (which would activate it in this process)."""
    assert startup.find_spec(name) is None
    assert startup.find_spec(name, ["/somewhere"], None) is None


def test_pth_file_is_one_import_line():
    """site runs a .pth line that starts with ``import`` (and only such a line) as code; the
    line names this module's function."""
    (line,) = (REPO / "spawnfix.pth").read_text().splitlines()
    assert line == "import _spawnfix_startup; _spawnfix_startup.watch_imports()"
    assert callable(startup.watch_imports)


@pytest.mark.parametrize(
    ("version", "started_by", "noted"),
    [
        ((3, 15, 2), "/venv/lib/python3.15/site-packages/spawnfix.pth", False),
        ((3, 17, 0), None, False),
        ((3, 18, 0), None, True),
        ((3, 19, 1), "/venv/lib/python3.19/site-packages/spawnfix.pth", True),
        ((3, 18, 0), "/venv/lib/python3.18/site-packages/spawnfix.start", False),
    ],
)
def test_doctor_says_when_python_ignores_the_pth_line(version, started_by, noted):
    """PEP 829: import lines in .pth files are ignored from Python 3.18 on; ``spawnfix
    doctor`` says so, unless a .start file started the hook."""
    note = cli.pth_note(version, started_by)
    if not noted:
        assert note is None
    else:
        assert note is not None and f"Python {version[0]}.{version[1]} ignores" in note
        assert "spawnfix run" in note
