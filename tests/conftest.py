"""Session fixtures: the wheel built once per run, and cached virtual environments.

Python versions for the multiprocessing matrix come from ``SPAWNFIX_TEST_PYTHONS``
(default ``3.9 3.11 3.13 3.14 3.15``; the full matrix is ``3.8`` to ``3.15``). 3.8 to 3.13
come from pyenv; 3.14 and 3.15 are Debian unstable's real builds, provisioned by the tests
themselves (``support.debian_python``). A version that cannot be had is skipped with a
message naming it and why.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from support import venvs

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PYTHONS = "3.9 3.11 3.13 3.14 3.15"


def matrix_pythons() -> list[str]:
    """The Python versions the multiprocessing corpus runs on."""
    return os.environ.get("SPAWNFIX_TEST_PYTHONS", DEFAULT_PYTHONS).split()


@pytest.fixture(scope="session")
def repo() -> Path:
    """The source tree under test."""
    return REPO


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spawnfix wheel, built once per test run from this source tree."""
    out = tmp_path_factory.mktemp("wheel")
    venvs.run_checked(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("-q", "-w", str(out), str(REPO)),
        ]
    )
    (built,) = out.glob("spawnfix-*.whl")
    return built


class EnvFactory:
    """Creates (or reuses) one environment per (Python, requirements) in this run."""

    def __init__(self, wheel: Path) -> None:
        self._wheel = wheel
        self._made: dict[tuple, venvs.Venv] = {}

    def python(self, version: str) -> str:
        """The interpreter for ``version``, or skip the test when it is not installed."""
        exe = venvs.find_python(version)
        if exe is None:
            from support import debian_python

            reason = debian_python.last_failure.get(version)
            pytest.skip(reason or f"Python {version} is not installed (pyenv install {version})")
        return exe

    def get(self, version: str, requirements: tuple = (), with_spawnfix: bool = True):
        """An environment for ``version`` with ``requirements`` and the wheel."""
        key = (version, tuple(sorted(requirements)), with_spawnfix)
        if key not in self._made:
            wheel = self._wheel if with_spawnfix else None
            self._made[key] = venvs.cached_env(self.python(version), list(requirements), wheel)
        return self._made[key]


@pytest.fixture(scope="session")
def envs(wheel: Path) -> EnvFactory:
    """Factory for the cached test environments of this run."""
    return EnvFactory(wheel)


@pytest.fixture(scope="session")
def main_env(envs: EnvFactory) -> venvs.Venv:
    """The environment of the running interpreter's version, spawnfix installed."""
    return envs.get(f"{sys.version_info[0]}.{sys.version_info[1]}")


def pytest_report_header(config: pytest.Config) -> str:
    """Say which Pythons the matrix uses, so a skipped version is visible up front."""
    found = {v: venvs.find_python(v) for v in matrix_pythons()}
    return "spawnfix matrix Pythons: " + ", ".join(
        f"{v} ({'found' if exe else 'missing'})" for v, exe in found.items()
    )
