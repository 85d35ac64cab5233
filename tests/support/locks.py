"""Lock files: every test environment is installed from a list of exact versions.

An environment is named by its Python (major.minor) and its requirements; its lock,
``tests/locks/py<X.Y>-<requirements>.txt``, names every package and version it holds (pip,
which comes with the interpreter's venv, and spawnfix, built for each run, aside). The lock
is installed with ``--no-deps``, so a release somewhere cannot add or change a package, and
after every install the environment is compared with its lock.

``SPAWNFIX_TEST_LOCKS=write`` writes the locks that are missing (from an environment resolved
afresh, then installed from the new lock like any other); ``refresh`` rewrites every lock
the run uses. Without it a missing lock fails the test that needs it, naming the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

LOCKS = Path(__file__).resolve().parent.parent / "locks"
# The test runner's own environment (.venv-test): pytest, uv and the wheel's build backend.
RUNNER_LOCK = LOCKS / "runner.txt"
# Packages an environment holds that its lock does not pin: pip (part of the venv) and
# spawnfix (the wheel of this run).
UNLOCKED = frozenset({"pip", "spawnfix"})
# What every environment holds besides its requirements: spawnfix's own dependencies,
# installed in environments without spawnfix too so that both differ by the wheel alone.
BASE_REQUIREMENTS = ("wrapt", "cloudpickle")


def mode() -> str:
    """``write`` (missing locks), ``refresh`` (every lock used) or ``use``."""
    value = os.environ.get("SPAWNFIX_TEST_LOCKS", "use").strip().lower()
    return value if value in ("write", "refresh") else "use"


def normalize(name: str) -> str:
    """A package name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(minor: str, requirements: list[str]) -> Path:
    """The lock of the environment for Python ``minor`` with ``requirements``."""
    if not requirements:
        return LOCKS / f"py{minor}-base.txt"
    slug = "_".join(re.sub(r"[^A-Za-z0-9.]+", "-", r).strip("-") for r in sorted(requirements))
    if len(slug) > 80:
        digest = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:8]
        slug = f"{slug[:70]}-{digest}"
    return LOCKS / f"py{minor}-{slug}.txt"


def parse(text: str) -> dict[str, str]:
    """``{normalized name: version}`` of a lock or of ``pip freeze`` output.

    A line that is not ``name==version`` (a direct reference, ``name @ URL``) keeps its whole
    text as the version, so it is compared as it stands.
    """
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        if "==" in line:
            name, version = line.split("==", 1)
        else:
            name, version = re.split(r"\s*@\s*", line, maxsplit=1)[0], line
        pins[normalize(name.strip())] = version.strip()
    return pins


def differences(installed: dict[str, str], locked: dict[str, str]) -> list[str]:
    """What an environment holds that its lock does not say, one line each (empty: none)."""
    found = []
    for name in sorted(set(installed) | set(locked)):
        if name in UNLOCKED:
            continue
        have, want = installed.get(name), locked.get(name)
        if want is None:
            found.append(f"{name}=={have} is installed but not in the lock")
        elif have is None:
            found.append(f"{name}=={want} is in the lock but not installed")
        elif have != want:
            found.append(f"{name} is {have}, the lock says {want}")
    return found


def render(minor: str, requirements: list[str], freeze: str) -> str:
    """The text of a lock for an environment whose ``pip freeze --all`` gave ``freeze``."""
    pins = parse(freeze)
    header = [
        f"# Lock of a spawnfix test environment: Python {minor}",
        f"# requirements: {' '.join(sorted(requirements)) or '(none)'}",
        "# Written with SPAWNFIX_TEST_LOCKS=write (see CONTRIBUTING.md, 'Test environments').",
    ]
    body = [
        version if "@" in version else f"{name}=={version}"
        for name, version in sorted(pins.items())
        if name not in UNLOCKED
    ]
    return "\n".join(header + body) + "\n"
