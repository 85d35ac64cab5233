"""Every test environment is what its lock says, on every machine and every day."""

from __future__ import annotations

import sys

import pytest

from support import locks, venvs


def test_differences_name_every_package_the_lock_does_not():
    installed = locks.parse("wrapt==1.17.0\nsentry-sdk==3.0.0\nSix==1.16.0\npip==23.2.1\n")
    locked = locks.parse("wrapt==1.16.0\nsix==1.16.0\ncloudpickle==3.1.1\n")
    assert locks.differences(installed, locked) == [
        "cloudpickle==3.1.1 is in the lock but not installed",
        "sentry-sdk==3.0.0 is installed but not in the lock",
        "wrapt is 1.17.0, the lock says 1.16.0",
    ]
    assert locks.differences(locked, locked) == []


def test_names_compare_as_pep_503_says():
    assert locks.parse("Foo_Bar.baz==1\n") == {"foo-bar-baz": "1"}
    assert locks.differences(locks.parse("foo-bar-baz==1"), locks.parse("FOO_BAR_BAZ==1")) == []


def test_every_lock_pins_every_line():
    found = sorted(locks.LOCKS.glob("*.txt"))
    assert locks.RUNNER_LOCK in found and len(found) > 5, found
    for lock in found:
        for line in lock.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, version = line.partition("==")
                assert name and version and " " not in line, f"{lock.name}: {line!r}"


def test_lock_names_depend_on_python_and_requirements_only():
    a = locks.lock_path("3.9", ["wandb==0.12.5", "protobuf<3.21"])
    assert a == locks.lock_path("3.9", ["protobuf<3.21", "wandb==0.12.5"])
    assert a != locks.lock_path("3.11", ["protobuf<3.21", "wandb==0.12.5"])
    assert locks.lock_path("3.11", []).name == "py3.11-base.txt"


def test_the_main_environment_matches_its_lock(main_env):
    lock = locks.lock_path(f"{sys.version_info[0]}.{sys.version_info[1]}", [])
    venvs.check_against_lock(main_env, lock)


def test_a_package_missing_from_an_environment_fails_the_check(tmp_path):
    """A real environment from a lock, then changed by hand: the check names the change."""
    lock = locks.lock_path(f"{sys.version_info[0]}.{sys.version_info[1]}", [])
    venv = venvs.create(tmp_path / "venv", sys.executable)
    venv.pip("install", "--no-deps", "-r", str(lock))
    venvs.check_against_lock(venv, lock)
    venv.pip("uninstall", "-y", "cloudpickle")
    with pytest.raises(RuntimeError, match=r"cloudpickle==.* is in the lock but not installed"):
        venvs.check_against_lock(venv, lock)
