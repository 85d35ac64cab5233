"""CPython's own multiprocessing test suites on the real 3.14 and 3.15, spawnfix active.

``test_multiprocessing_spawn`` and ``test_multiprocessing_forkserver`` show what ordinary
programs feel with spawnfix installed: everything passes except ``test_noforkbomb``, which
asserts that an unguarded script dies under spawn and forkserver. spawnfix repairs that
script, so the test fails in exactly one way: the script exits 0 ("Process return code
is 0"); that failure is asserted, and proves the repair.

The full suites take several minutes each on 2 cores, so the default run takes one
representative part (the forkserver ``test_misc`` group on 3.14, where ``test_noforkbomb``
lives); ``SPAWNFIX_TEST_CPYTHON_SUITES=all`` runs both suites whole on 3.14 and 3.15.

``test_concurrent_futures`` (about a minute) passes whole with spawnfix as without it, with
no file reported "env changed": on 3.14 by default, on 3.14 and 3.15 with ``all``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree

import pytest

from conftest import matrix_pythons

REAL = [version for version in matrix_pythons() if version in ("3.14", "3.15")]
if os.environ.get("SPAWNFIX_TEST_CPYTHON_SUITES") == "all":
    CASES = [
        (version, suite)
        for version in REAL
        for suite in ("test_multiprocessing_spawn", "test_multiprocessing_forkserver")
    ]
else:
    CASES = [("3.14", "test_multiprocessing_forkserver.test_misc")] if "3.14" in REAL else []
FUTURES_VERSIONS = (
    REAL
    if os.environ.get("SPAWNFIX_TEST_CPYTHON_SUITES") == "all"
    else (["3.14"] if "3.14" in REAL else [])
)
# The one test that fails with spawnfix, and how: the fork bomb runs to its end.
EXPECTED_FAILURE = "test_noforkbomb"
REPAIR_EVIDENCE = "Process return code is 0"


@pytest.mark.parametrize(("version", "suite"), CASES)
def test_cpython_multiprocessing_suite(envs, tmp_path, version, suite):
    """``python -m test -j2 SUITE``: every test passes but test_noforkbomb, which fails
    because spawnfix makes the fork bomb script work."""
    from support.scripts import run_python

    env = envs.get(version)
    report = tmp_path / "junit.xml"
    result = run_python(
        env.python,
        ["-m", "test", "-j2", "--timeout", "600", "--junit-xml", str(report), suite],
        tmp_path,
        timeout=2400,
    )
    assert not result.timed_out, result.output[-3000:]
    cases = list(ElementTree.parse(report).iter("testcase"))
    failed = {
        case.get("name").rsplit(".", 1)[-1]: " ".join(
            part.text or part.get("message") or "" for part in problems
        )
        for case in cases
        if (problems := case.findall("failure") + case.findall("error"))
    }
    assert len(cases) > 50, result.output[-3000:]
    assert set(failed) == {EXPECTED_FAILURE}, (failed, result.output[-3000:])
    assert REPAIR_EVIDENCE in failed[EXPECTED_FAILURE], failed


@pytest.mark.parametrize("version", FUTURES_VERSIONS)
def test_cpython_concurrent_futures_suite(envs, tmp_path, version):
    """``python -m test -j2 test_concurrent_futures`` with spawnfix active: every file
    passes and none changes the environment (spawnfix's replacement of
    ``terminate_broken`` once hung its executors on 3.14, and a variable it left in
    ``os.environ`` made regrtest report "env changed")."""
    from support.scripts import run_python

    env = envs.get(version)
    report = tmp_path / "junit.xml"
    result = run_python(
        env.python,
        [
            "-m",
            "test",
            "-j2",
            "--timeout",
            "600",
            "--junit-xml",
            str(report),
            "test_concurrent_futures",
        ],
        tmp_path,
        timeout=1800,
    )
    assert not result.timed_out, result.output[-3000:]
    assert result.returncode == 0, result.output[-3000:]
    assert "env changed" not in result.output, result.output[-3000:]
    cases = list(ElementTree.parse(report).iter("testcase"))
    failed = [case.get("name") for case in cases if case.findall("failure") + case.findall("error")]
    assert len(cases) > 300 and failed == [], (failed, result.output[-3000:])
