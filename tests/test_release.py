"""The package is ready to publish (issue 20): sdist and wheel from a clean copy pass
``twine check`` and carry the license, the wheel is typed, the pre-commit hook works as
pre-commit runs it, and the public names type-check under ``mypy --strict``."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from support.scripts import run_python

RELEASE_PYTHON = "3.11"
RELEASE_TOOLS = ("build==1.6.1", "twine==7.0.0", "mypy==2.4.1", "pre-commit==4.7.0")

UNGUARDED = """\
import multiprocessing

with multiprocessing.Pool(2) as pool:
    print(pool.map(abs, [-1, -2]))
"""
GUARDED = """\
import multiprocessing

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(abs, [-1, -2]))
"""
TYPED_USER_CODE = """\
import multiprocessing
import warnings

import spawnfix
from spawnfix import (
    ChildPicklingError,
    SentByValueWarning,
    UnguardedMainError,
    UnguardedMainWarning,
    WorkerStartupError,
    activate,
)


def square(x: int) -> int:
    return x * x


def run() -> list[int]:
    activate()
    warnings.simplefilter("error", UnguardedMainWarning)
    warnings.simplefilter("ignore", SentByValueWarning)
    try:
        with multiprocessing.Pool(2) as pool:
            return pool.map(square, range(3))
    except WorkerStartupError as error:
        print("workers could not start:", error)
    except (UnguardedMainError, ChildPicklingError) as error:
        print(type(error).__name__, error)
    print(spawnfix.__version__)
    return []
"""


@pytest.fixture(scope="module")
def release_env(envs):
    """Python 3.11 with build, twine, mypy and pre-commit (pinned) and spawnfix."""
    return envs.get(RELEASE_PYTHON, RELEASE_TOOLS)


@pytest.fixture(scope="module")
def clean_copy(repo, tmp_path_factory):
    """The files git tracks, as a clean clone has them (no venvs, caches or builds)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, stdout=subprocess.PIPE, check=True, timeout=60
    ).stdout.decode()
    target = tmp_path_factory.mktemp("clean") / "spawnfix"
    for name in filter(None, listed.split("\0")):
        source = repo / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_sdist_and_wheel_pass_twine_and_carry_the_license(release_env, clean_copy, tmp_path):
    """``python -m build`` then ``twine check``; LICENSE in both, py.typed in the wheel,
    the version and the 3.14/3.15 classifiers in the metadata."""
    dist = tmp_path / "dist"
    build = run_python(
        release_env.python,
        ["-m", "build", "--outdir", str(dist), str(clean_copy)],
        tmp_path,
        timeout=600,
    )
    assert build.returncode == 0, build.output
    (sdist,) = dist.glob("spawnfix-*.tar.gz")
    (wheel,) = dist.glob("spawnfix-*.whl")
    check = run_python(
        release_env.python,
        ["-m", "twine", "check", "--strict", sdist.as_posix(), wheel.as_posix()],
        tmp_path,
    )
    assert check.returncode == 0 and check.stdout.count("PASSED") == 2, check.output
    license_text = (clean_copy / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        (member,) = [name for name in names if name.endswith("/LICENSE")]
        assert archive.extractfile(member).read().decode() == license_text
        assert any(name.endswith("/CHANGELOG.md") for name in names)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (member,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(member).decode() == license_text
        assert "spawnfix/py.typed" in names
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert "\nVersion: 0.1.0\n" in text and "\nRequires-Python: >=3.8\n" in text
    for version in ("3.8", "3.13", "3.14", "3.15"):
        assert f"Programming Language :: Python :: {version}\n" in text


def test_public_names_type_check_strictly(release_env, tmp_path):
    """A user module that imports and catches spawnfix's public names: ``mypy --strict``
    passes; a wrong use of them is reported (the types are real, not ``Any``)."""
    (tmp_path / "user_code.py").write_text(TYPED_USER_CODE)
    result = run_python(
        release_env.python, ["-m", "mypy", "--strict", "user_code.py"], tmp_path, timeout=300
    )
    assert result.returncode == 0, result.output
    (tmp_path / "wrong_use.py").write_text("from spawnfix import activate\n\nactivate(1)\n")
    wrong = run_python(
        release_env.python, ["-m", "mypy", "--strict", "wrong_use.py"], tmp_path, timeout=300
    )
    assert wrong.returncode == 1 and "Too many arguments" in wrong.stdout, wrong.output


def test_pre_commit_hook_runs_spawnfix_check(release_env, clean_copy, tmp_path):
    """``pre-commit try-repo`` on this repository's hook definition, as pre-commit runs it:
    exit 1 with the finding for an unguarded script, exit 0 for a guarded one."""
    for command in (
        ["init", "-q"],
        ["config", "user.email", "t@example.invalid"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", *command], cwd=clean_copy, check=True, timeout=60)
    subprocess.run(["git", "add", "-A"], cwd=clean_copy, check=True, timeout=60)
    subprocess.run(
        ["git", "commit", "-qm", "release candidate"], cwd=clean_copy, check=True, timeout=60
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(UNGUARDED)
    (project / "guarded.py").write_text(GUARDED)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, timeout=60)
    pre_commit = str(Path(release_env.python).parent / "pre-commit")
    home = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def try_repo(name: str):
        return subprocess.run(
            [pre_commit, "try-repo", str(clean_copy), "spawnfix-check", "--files", name],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
            env={**_environment(), **home},
        )

    failing = try_repo("train.py")
    assert failing.returncode == 1, failing.stdout
    assert "train.py:3:6: SPX001" in failing.stdout, failing.stdout
    passing = try_repo("guarded.py")
    assert passing.returncode == 0, passing.stdout
    assert "Passed" in passing.stdout, passing.stdout


def _environment() -> dict[str, str]:
    from support.scripts import clean_environment

    return clean_environment()
