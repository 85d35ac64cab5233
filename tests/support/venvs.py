"""Fresh virtual environments with the built spawnfix wheel, created once and cached.

Each environment is installed from its lock (``support.locks``), keyed by its interpreter
and that lock, and lives under ``SPAWNFIX_TEST_VENVS`` (default
``~/.cache/spawnfix-test-venvs``) so that a second test run reuses it. spawnfix itself is
(re)installed from the wheel built for this run, once per run, so a cached environment
never tests stale code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import locks

CACHE_ROOT = Path(
    os.environ.get("SPAWNFIX_TEST_VENVS", Path.home() / ".cache" / "spawnfix-test-venvs")
)
INSTALL_TIMEOUT = 1800
PYTHON_VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")


def find_python(version: str) -> str | None:
    """Path of an interpreter for ``version`` (pyenv, then PATH; 3.14 and 3.15: Debian's
    real builds, provisioned by ``support.debian_python``), or None."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    from support import debian_python

    if version in debian_python.REAL_VERSIONS:
        return debian_python.provision(version)
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(Path(pyenv_root, "versions").glob(f"{version}.*"), reverse=True)
    for candidate in candidates:
        exe = candidate / "bin" / "python3"
        if exe.exists():
            return str(exe)
    return shutil.which(f"python{version}")


def test_tool(name: str) -> str | None:
    """A command-line tool installed beside the test runner's interpreter, or None.

    The README's test command installs its tools (uv) into ``.venv-test``, whose ``bin``
    is not on ``PATH``; a tool found on ``PATH`` instead would pass here and fail on a
    fresh machine, so ``PATH`` is never searched.
    """
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def run_checked(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run an installation step; fail with its output if it fails."""
    completed = subprocess.run(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=kwargs.pop("timeout", INSTALL_TIMEOUT),
        **kwargs,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{completed.stdout[-4000:]}")
    return completed


class Venv:
    """A virtual environment: its folder and its interpreter."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = str(path / "bin" / "python")

    @property
    def site_packages(self) -> Path:
        """The environment's site-packages folder."""
        out = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            stdout=subprocess.PIPE,
            text=True,
            timeout=60,
            check=True,
        )
        return Path(out.stdout.strip())

    def pip(self, *args: str) -> None:
        """Run pip inside the environment."""
        run_checked([self.python, "-m", "pip", "--disable-pip-version-check", "-q", *args])

    def bin(self, name: str) -> str:
        """Path of a console script installed in the environment."""
        return str(self.path / "bin" / name)


def create(path: Path, python: str) -> Venv:
    """Create an empty environment at ``path`` with ``python``."""
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from support.debian_python import venv_pip_wheel

    pip_wheel = venv_pip_wheel(python)
    if pip_wheel is None:
        run_checked([python, "-m", "venv", str(path)])
    else:
        run_checked([python, "-m", "venv", "--without-pip", str(path)])
        venv = Venv(path)
        run_checked([venv.python, f"{pip_wheel}/pip", "install", "-q", "--no-index", pip_wheel])
    return Venv(path)


def freeze(venv: Venv) -> str:
    """``pip freeze --all`` of an environment."""
    return run_checked(
        [venv.python, "-m", "pip", "--disable-pip-version-check", "freeze", "--all"], timeout=120
    ).stdout


def _write_lock(python: str, minor: str, requirements: list[str], lock: Path) -> None:
    """Resolve ``requirements`` afresh in a scratch environment and write its lock."""
    scratch = CACHE_ROOT / f"unlocked-py{minor}-{lock.stem}"
    venv = create(scratch, python)
    venv.pip("install", *requirements, *locks.BASE_REQUIREMENTS)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(locks.render(minor, requirements, freeze(venv)))
    shutil.rmtree(scratch)


def check_against_lock(venv: Venv, lock: Path) -> None:
    """Fail when the environment holds anything its lock does not name, as it names it."""
    found = locks.differences(locks.parse(freeze(venv)), locks.parse(lock.read_text()))
    if found:
        raise RuntimeError(
            f"the environment {venv.path} differs from its lock {lock}:\n  "
            + "\n  ".join(found)
            + f"\n(delete {venv.path} to rebuild it, or refresh the lock: CONTRIBUTING.md, "
            "'Test environments')"
        )


def cached_env(python: str, requirements: list[str], wheel: Path | None) -> Venv:
    """An environment installed from its lock (cached) with the spawnfix wheel (fresh)."""
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        stdout=subprocess.PIPE,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    minor = ".".join(version.split(".")[:2])
    lock = locks.lock_path(minor, requirements)
    mode = locks.mode()
    if mode == "refresh" and lock not in _refreshed:
        _write_lock(python, minor, requirements, lock)
        _refreshed.add(lock)
    elif not lock.exists():
        if mode != "write":
            raise RuntimeError(
                f"no lock for Python {minor} with {sorted(requirements)}: {lock} is missing "
                "(write it with SPAWNFIX_TEST_LOCKS=write: CONTRIBUTING.md, 'Test environments')"
            )
        _write_lock(python, minor, requirements, lock)
    lock_text = lock.read_text()
    # Environments with and without spawnfix never share a folder; a changed lock (or
    # interpreter) is a new folder.
    key_source = json.dumps([version, sorted(requirements), lock_text, wheel is not None])
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    path = CACHE_ROOT / f"py{version}-{key}"
    marker = path / "spawnfix-requirements.json"
    if not marker.exists():
        venv = create(path, python)
        venv.pip("install", "--no-deps", "-r", str(lock))
        marker.write_text(key_source)
    venv = Venv(path)
    if wheel is not None:
        venv.pip("install", "--no-deps", "--force-reinstall", str(wheel))
    check_against_lock(venv, lock)
    return venv


# Locks rewritten by this run (SPAWNFIX_TEST_LOCKS=refresh rewrites each once).
_refreshed: set[Path] = set()
