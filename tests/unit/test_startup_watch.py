"""The startup hook (issue 28): what ``spawnfix doctor`` says about Pythons that ignore
``.pth`` import lines."""

import pytest

from spawnfix import cli


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
