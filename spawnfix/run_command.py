"""The environment ``spawnfix run`` (and ``spawnfix demo``) gives its command: the
``sitecustomize`` stub first on ``PYTHONPATH``, so that spawnfix starts in an interpreter
where it is not installed into site-packages."""

from __future__ import annotations

import os

import spawnfix
from spawnfix import config

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Optional


PACKAGE_DIR = os.path.dirname(os.path.abspath(spawnfix.__file__))


def stub_directory() -> str:
    """The folder holding the ``sitecustomize`` stub (in the wheel, or in a source tree)."""
    for candidate in (
        os.path.join(PACKAGE_DIR, "sitecustomize_stub"),
        os.path.join(os.path.dirname(PACKAGE_DIR), "sitecustomize_stub"),
    ):
        if os.path.isfile(os.path.join(candidate, "sitecustomize.py")):
            return candidate
    raise FileNotFoundError("the spawnfix sitecustomize stub is missing from this install")


def run_environment(mode: Optional[str], environ: dict[str, str]) -> dict[str, str]:
    """The environment ``spawnfix run`` gives its command."""
    env = dict(environ)
    existing = env.get("PYTHONPATH")
    stub = stub_directory()
    env["PYTHONPATH"] = stub + (os.pathsep + existing if existing else "")
    env["SPAWNFIX_PACKAGE_DIR"] = os.path.dirname(PACKAGE_DIR)
    if mode is not None:
        env[config.MODE_VARIABLE] = mode
    return env
