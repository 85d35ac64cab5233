"""A user module imported without effects (``spawnfix.quiet_imports``), in-process: its
statements run one by one, a refused one is skipped, output is muted, and its text is
read as its coding declaration says."""

from __future__ import annotations

import importlib
import sys

from spawnfix.quiet_imports import importing_users_modules_quietly

MODULE = (
    b"# -*- coding: latin-1 -*-\n"
    b'print("imported")\n'
    b'log = open("made_by_the_import.txt", "w")\n'
    b"def greet():\n"
    b'    return "caf\xe9"\n'
    b"COUNT = 3\n"
)


def test_a_user_module_runs_without_effects(tmp_path, monkeypatch, capsys):
    (tmp_path / "quiet_probe.py").write_bytes(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with importing_users_modules_quietly():
            module = importlib.import_module("quiet_probe")
    finally:
        sys.modules.pop("quiet_probe", None)
    assert module.greet() == "café"
    assert module.COUNT == 3
    assert not hasattr(module, "log")  # refused (it would create the file): skipped
    assert not (tmp_path / "made_by_the_import.txt").exists()
    assert "imported" not in capsys.readouterr().out
