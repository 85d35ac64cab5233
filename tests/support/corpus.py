"""Running the script corpora (tests/scripts/corpus, tests/scripts/field) and reading
their marker files."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.scripts import SCRIPTS, Result, run_python

FILE = "file"
MODULE = "module"


class CorpusRun:
    """One run of a corpus script: the process result and the top-level markers."""

    def __init__(self, result: Result, marker_file: Path) -> None:
        self.result = result
        text = marker_file.read_text() if marker_file.exists() else ""
        markers = [line.split(" ", 2) for line in text.splitlines()]
        # A child's main module: ``__mp_main__`` under spawn, ``__main__`` once spawnfix's
        # fork-faithful re-run has ended (as under fork). The parent writes the first
        # marker; the main module of any other process counts as a child's.
        parent = markers[0][0] if markers else None
        self.markers = [
            [pid, "__mp_main__", event] if module == "__main__" and pid != parent else marker
            for marker in markers
            for pid, module, event in [[*marker, "", ""][:3]]
        ]

    def pids_for(self, event: str) -> set[str]:
        """Which processes recorded ``event``."""
        return {pid for pid, _, name in self.markers if name == event}

    @property
    def parent_pid(self) -> str:
        """The pid that ran the script as ``__main__``."""
        (pid,) = {pid for pid, module, _ in self.markers if module == "__main__"}
        return pid

    def events_of(self, module_name: str) -> list[str]:
        """Events recorded by processes running the script under ``module_name``."""
        return [event for _, module, event in self.markers if module == module_name]


def copy_corpus(destination: Path) -> Path:
    """A private copy of the corpus, so that scripts may edit themselves."""
    target = destination / "scripts"
    shutil.copytree(SCRIPTS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run_corpus(
    python: str,
    script: str,
    start_method: str,
    invocation: str,
    tmp_path: Path,
    timeout: float = 120,
    folder: str = "corpus",
    check_leftovers: bool = False,
    **env: str,
) -> CorpusRun:
    """Run ``<folder>/<script>.py`` (``corpus`` by default) as a file or with ``-m`` and
    collect its markers."""
    scripts = copy_corpus(tmp_path)
    marker_file = tmp_path / "markers.txt"
    args = [f"{folder}/{script}.py"] if invocation == FILE else ["-m", f"{folder}.{script}"]
    result = run_python(
        python,
        args,
        scripts,
        timeout=timeout,
        check_leftovers=check_leftovers,
        START_METHOD=start_method,
        MARKER_FILE=str(marker_file),
        **env,
    )
    return CorpusRun(result, marker_file)
