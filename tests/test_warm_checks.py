"""A fork server started ahead of need that nobody can notice (issue 30, findings 1 and 2).

The warm fork server (``spawnfix.warm_forkserver``) starts at ``import multiprocessing``;
its children inherit what the parent was then. A guarded ``main()`` that changes the
umask, a resource limit, the ignored signals or the signal mask, the working directory,
``sys.path`` or ``os.environ`` after its imports gets its workers as the standard library
gives them (``SPAWNFIX=0``, the reference): the first launch finds the change and a fork
server starts then, as natively. Where nothing changed, the warm fork server forks the
workers.

Scripts in ``tests/scripts/warm_checks``; its ``site-packages`` folder (on ``PYTHONPATH``)
holds the "installed" modules, which the fork server preloads as the scripts import them.
"""

from __future__ import annotations

import pytest

from corpus_runs import copy_corpus
from support.scripts import run_python

FOLDER = "warm_checks"
VERSIONS = ["3.11", "3.14"]
STARTED = "fork server started ahead of need"

# Script, what the workers report natively, the part of the parent's state that changed.
CHANGES = [
    ("umask", "['0o600']", "umask"),
    ("open_files_limit", "[True]", "resource limits"),
    ("sigint_ignored", "['SIG_IGN']", "ignored signals"),
    ("signal_mask", "[True]", "signal mask"),
    ("chdir", "[('elsewhere', 'elsewhere')]", "working directory"),
    ("vendored", "['vendor']", "sys.path"),
    ("environment", "['1']", "environment"),
]


def _run(python, script, tmp_path, *args, **env):
    scripts = copy_corpus(tmp_path)
    site = scripts / FOLDER / "site-packages"
    return run_python(
        python, [f"{FOLDER}/{script}.py", *args], scripts, timeout=90, PYTHONPATH=str(site), **env
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("script, native_output, changed", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_after_the_warm_start_gets_a_fork_server_as_natively(
    envs, tmp_path, version, script, native_output, changed
):
    """The workers see what they see without spawnfix; the debug line names the change
    (the warm fork server had started, and was discarded at the first launch)."""
    python = envs.get(version).python
    native = _run(python, script, tmp_path / "native", SPAWNFIX="0")
    assert native.returncode == 0 and native.stdout == native_output + "\n", native.output
    fixed = _run(python, script, tmp_path / "spawnfix", SPAWNFIX_DEBUG="1")
    assert fixed.returncode == 0 and fixed.stdout == native.stdout, fixed.output
    assert STARTED in fixed.stderr, fixed.output
    assert f"warm fork server discarded: {changed} changed" in fixed.stderr, fixed.output


@pytest.mark.parametrize("version", VERSIONS)
def test_nothing_changed_the_warm_fork_server_forks_the_workers(envs, tmp_path, version):
    """No inherited change (a SIGTERM handler in Python, an entry appended to sys.path):
    the workers' parent is the fork server started ahead of need, and its start left the
    parent's environment and descriptors as they were (natively too)."""
    python = envs.get(version).python
    kept = "environment kept True\ndescriptors kept True\n"
    warm = _run(python, "unchanged", tmp_path / "spawnfix", SPAWNFIX_DEBUG="1")
    assert warm.returncode == 0, warm.output
    assert warm.stdout == kept + "forked by the warm fork server True\n", warm.output
    assert "warm fork server used" in warm.stderr, warm.output
    assert "warm fork server discarded" not in warm.stderr, warm.output
    native = _run(python, "unchanged", tmp_path / "native", SPAWNFIX="0")
    assert native.returncode == 0, native.output
    assert native.stdout == kept + "forked by the warm fork server False\n", native.output
