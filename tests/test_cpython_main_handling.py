"""CPython's own test_multiprocessing_main_handling passes with spawnfix installed."""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.scripts import run_python


@pytest.mark.parametrize("version", matrix_pythons())
def test_cpython_main_handling_suite(envs, tmp_path, version):
    """`python -m test test_multiprocessing_main_handling` in a venv with spawnfix."""
    env = envs.get(version)
    probe = run_python(
        env.python, ["-c", "import test.support, test.test_multiprocessing_main_handling"], tmp_path
    )
    if probe.returncode != 0:
        pytest.skip(
            f"Python {version} ({env.python}) lacks test.test_multiprocessing_main_handling "
            "(Debian's python3.11 ships only part of the test package; use pyenv's)"
        )
    result = run_python(
        env.python, ["-m", "test", "test_multiprocessing_main_handling"], tmp_path, timeout=600
    )
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.stdout or "Tests result: SUCCESS" in result.stdout, result.output
    probe = "import spawnfix; print(spawnfix.is_active())"
    active = run_python(env.python, ["-c", probe], tmp_path)
    assert active.stdout.strip() == "True", active.output
