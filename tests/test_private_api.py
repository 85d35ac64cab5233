"""The standard library's private functions that spawnfix replaces still have the
parameters it was written for, on every Python of the matrix; where one changed (3.14's
``terminate_broken``), programs behave as without spawnfix."""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, run_corpus
from support.scripts import run_python

CHECK = """
import importlib
from spawnfix import private_api
for key, wanted in private_api.EXPECTED.items():
    module_name, _, qualified = key.partition(":")
    target = importlib.import_module(module_name)
    for part in qualified.split("."):
        target = getattr(target, part)
    if not private_api.expects(target, key):
        print("changed", key, private_api.parameters(target))
print("checked", len(private_api.EXPECTED))
"""


@pytest.mark.parametrize("version", matrix_pythons())
def test_every_patched_private_function_has_the_expected_parameters(envs, tmp_path, version):
    if version == "3.8":  # 3.8's executor has no manager class (never patched there)
        pytest.skip("3.8 has no _ExecutorManagerThread")
    python = envs.get(version).python
    result = run_python(python, ["-c", CHECK], tmp_path)
    assert result.returncode == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("checked "), result.output
    assert "changed" not in result.stdout, result.output


def test_a_changed_private_function_is_left_alone(main_env, tmp_path):
    """A function whose parameters are not the expected ones: ``expects`` says no, with a
    debug line naming it, and spawnfix's patch is not installed over it."""
    code = (
        "import multiprocessing.pool as pool\n"
        "from spawnfix import pool_watchdog\n"
        "pool_watchdog.uninstall()\n"
        "def worker(queue_in, queue_out, *rest): pass\n"
        "pool.worker = worker\n"
        "pool_watchdog.install(pool)\n"
        "print(pool.worker is worker, not pool_watchdog._patched)\n"
    )
    result = run_python(main_env.python, ["-c", code], tmp_path, SPAWNFIX_DEBUG="1")
    assert result.stdout.split() == ["True", "True"], result.output
    assert "multiprocessing.pool:worker has parameters" in result.stderr, result.output


# Pythons whose executor replaces a worker at max_tasks_per_child from its manager thread
# and breaks when that fails (3.14+: earlier ones let the thread die and hang natively).
BREAKING_EXECUTORS = ("3.14", "3.15")


@pytest.mark.parametrize("spawnfix", ("1", "0"))
@pytest.mark.parametrize("start_method", ("spawn", "forkserver"))
@pytest.mark.parametrize("version", [v for v in matrix_pythons() if v in BREAKING_EXECUTORS])
def test_executor_whose_replacement_worker_fails_breaks(
    envs, tmp_path, version, start_method, spawnfix
):
    """max_tasks_per_child=1 and a replacement worker that cannot start: BrokenProcessPool
    with and without spawnfix (on 3.14 spawnfix's old replacement of terminate_broken
    raised TypeError in the manager thread and the futures never resolved)."""
    python = envs.get(version).python
    run = run_corpus(
        python,
        "executor_replacement_fails",
        start_method,
        FILE,
        tmp_path,
        folder="pool_startup",
        timeout=120,
        SPAWNFIX=spawnfix,
    )
    result = run.result
    assert not result.timed_out, result.output
    assert result.stdout.startswith("result 0\n"), result.output
    assert "broken" in result.stdout, result.output
    assert "TypeError" not in result.stderr, result.output
