"""A user installs spawnfix and forgets it (issue 2): hook files, activation, fail-open,
the sitecustomize stub, ``spawnfix run`` and the three install routes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from corpus_runs import FILE, run_corpus
from support import locks, venvs
from support.scripts import run_python

PROBE = (
    "import sys, spawnfix as s; "
    "print(s.is_active(), sum(type(f).__name__ == 'PostImportFinder' for f in sys.meta_path))"
)
HEAVY = ("wrapt", "multiprocessing", "wandb", "typing", "logging", "ast", "spawnfix.config")


def test_wheel_ships_the_hook_files_at_its_root(wheel):
    """spawnfix.pth and spawnfix.start land directly in site-packages; the stub ships too."""
    names = zipfile.ZipFile(wheel).namelist()
    assert "spawnfix.pth" in names and "spawnfix.start" in names
    assert "spawnfix/sitecustomize_stub/sitecustomize.py" in names
    pth = zipfile.ZipFile(wheel).read("spawnfix.pth").decode()
    assert pth.strip() == "import spawnfix; spawnfix.activate()"


def test_hook_is_active_after_install(main_env, tmp_path):
    """A plain interpreter of the environment has the hook, registered exactly once
    although virtual environments run .pth import lines twice."""
    result = run_python(main_env.python, ["-c", PROBE], tmp_path)
    assert result.stdout.split() == ["True", "1"], result.output


# The file each Python's site runs the hook from: PEP 829 (3.15+) prefers the .start
# entry point and ignores the import line of the .pth beside it.
HOOK_FILE = {"3.9": "spawnfix.pth", "3.14": "spawnfix.pth", "3.15": "spawnfix.start"}


@pytest.mark.parametrize("version", sorted(HOOK_FILE))
def test_one_activation_and_doctor_names_the_hook_file(envs, tmp_path, version):
    """Each interpreter activates once (one finder), and ``spawnfix doctor`` names the file
    whose line really started the hook."""
    env = envs.get(version)
    probe = PROBE.replace("print(", "print(s.started_by, ")
    result = run_python(env.python, ["-c", probe], tmp_path)
    started_by, active, finders = result.stdout.split()
    assert (active, finders) == ("True", "1"), result.output
    assert Path(started_by) == env.site_packages / HOOK_FILE[version], result.output
    doctor = run_python(env.python, ["-m", "spawnfix", "doctor"], tmp_path)
    assert f"hook: active, started by {started_by}\n" in doctor.stdout, doctor.output


def test_startup_imports_nothing_heavy(main_env, tmp_path):
    """Startup imports none of wrapt, multiprocessing, wandb, typing, logging, ast, and of
    spawnfix only its package module."""
    code = f"import sys; print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    result = run_python(main_env.python, ["-c", code], tmp_path)
    assert result.stdout.strip() == "[]", result.output
    assert result.stderr == ""
    # The hook is one module: each further import costs every interpreter its start.
    code = "import sys; print(sorted(m for m in sys.modules if m.startswith('spawnfix')))"
    result = run_python(main_env.python, ["-c", code], tmp_path)
    assert result.stdout.strip() == "['spawnfix']", result.output


def test_importing_multiprocessing_costs_little(main_env, tmp_path):
    """A program that imports multiprocessing and starts nothing gets four small spawnfix
    modules (thread origins, the start methods it names and the signature check of the
    functions that records them, the warm-start check) and nothing else: no ``__future__``,
    no ``_ast``, none of the launch machinery. Natively none of them."""
    code = (
        "import sys, multiprocessing; "
        "print(sorted(m for m in sys.modules if m.startswith(('spawnfix', '__future__', "
        "'_ast'))))"
    )
    result = run_python(main_env.python, ["-c", code], tmp_path)
    expected = (
        "['spawnfix', 'spawnfix.private_api', 'spawnfix.start_method_choice', "
        "'spawnfix.thread_sites', 'spawnfix.warm_forkserver']"
    )
    assert result.stdout.strip() == expected, result.output
    native = run_python(main_env.python, ["-c", code], tmp_path, SPAWNFIX="0")
    assert native.stdout.strip() in ("[]", "['spawnfix', 'spawnfix.config']"), native.output


def test_spawnfix_off_is_inert(main_env, tmp_path):
    """SPAWNFIX=0: no finder, and multiprocessing.spawn stays the standard library's."""
    code = (
        PROBE + "; import multiprocessing.spawn as sp; "
        "print(hasattr(sp.get_preparation_data, 'spawnfix_patch'))"
    )
    for off in ("0", "off"):
        result = run_python(main_env.python, ["-c", code], tmp_path, SPAWNFIX=off)
        assert result.stdout.split() == ["False", "0", "False"], result.output


def test_patch_applies_when_multiprocessing_spawn_is_imported(main_env, tmp_path):
    """The lazy hook patches get_preparation_data on import, and not before."""
    code = (
        "import sys, multiprocessing; print('multiprocessing.spawn' in sys.modules); "
        "import multiprocessing.spawn as sp; print(hasattr(sp.get_preparation_data, "
        "'spawnfix_patch'), 'wrapt' in sys.modules)"
    )
    result = run_python(main_env.python, ["-c", code], tmp_path)
    assert result.stdout.split() == ["False", "True", "False"], result.output


def test_activating_twice_is_harmless(main_env, tmp_path):
    """A second activate() (the .pth line again, or the stub) changes nothing."""
    code = "import spawnfix as s; s.activate(); s.activate(); " + PROBE
    result = run_python(main_env.python, ["-c", code], tmp_path)
    assert result.stdout.split() == ["True", "1"], result.output


def test_start_file_entry_point_resolves_and_activates(main_env, tmp_path):
    """PEP 829: the spawnfix.start entry resolves with pkgutil.resolve_name and activates."""
    start_file = main_env.site_packages / "spawnfix.start"
    code = (
        "import pkgutil, sys\n"
        f"entry = open({str(start_file)!r}).read().strip()\n"
        "activate = pkgutil.resolve_name(entry)\n"
        "activate()\n"
        "import spawnfix as s\n"
        "print(entry, activate is s.activate, s.is_active())\n"
    )
    # -S skips site (and so the .pth): only the entry point can activate spawnfix.
    add_site_packages = f"import sys; sys.path.append({str(main_env.site_packages)!r})\n"
    result = run_python(main_env.python, ["-S", "-c", add_site_packages + code], tmp_path)
    assert result.stdout.split() == ["spawnfix:activate", "True", "True"], result.output


@pytest.fixture
def scratch_env(tmp_path, wheel):
    """A throw-away environment with spawnfix installed, for tests that break it."""
    venv = venvs.create(tmp_path / "venv", sys.executable)
    venv.pip("install", "-c", str(_base_lock()), str(wheel))
    return venv


def _base_lock() -> Path:
    """The lock of the running Python's plain environment: wrapt and cloudpickle's versions."""
    return locks.lock_path(f"{sys.version_info[0]}.{sys.version_info[1]}", [])


def test_missing_wrapt_never_breaks_python(scratch_env, tmp_path):
    """wrapt uninstalled: Python starts silently, unguarded scripts are still repaired."""
    scratch_env.pip("uninstall", "-y", "wrapt")
    result = run_python(scratch_env.python, ["-c", "print(1)"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", "")
    run = run_corpus(scratch_env.python, "top_process", "spawn", FILE, tmp_path)
    assert run.result.returncode == 0 and "exitcode 0" in run.result.stdout, run.result.output


def test_broken_package_never_breaks_python(scratch_env, tmp_path):
    """A corrupted hook module: Python still starts, prints, and exits 0."""
    package = scratch_env.site_packages / "spawnfix"
    (package / "mp_hooks.py").write_text("this is not python\n")
    result = run_python(scratch_env.python, ["-c", "print(1)"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", "")
    # The patch fails open at import time: the script behaves as without spawnfix.
    run = run_corpus(scratch_env.python, "top_executor", "spawn", FILE, tmp_path, timeout=60)
    assert "BrokenProcessPool" in run.result.stderr, run.result.output

    (package / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    result = run_python(scratch_env.python, ["-c", "print(1)"], tmp_path)
    assert (result.returncode, result.stdout) == (0, "1\n"), result.output


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory):
    """An environment without spawnfix, for the stub and `spawnfix run`."""
    return venvs.create(tmp_path_factory.mktemp("plain") / "venv", sys.executable)


def test_stub_activates_and_chains_to_user_sitecustomize(plain_env, repo, tmp_path):
    """The stub activates spawnfix and the user's own sitecustomize still runs, once."""
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "sitecustomize.py").write_text(
        "import os\nprint('user sitecustomize ran', os.getpid())\n"
    )
    pythonpath = f"{repo / 'sitecustomize_stub'}:{user_dir}"
    code = "import sys, spawnfix as s; print(s.is_active(), sys.modules['sitecustomize'].__file__)"
    result = run_python(
        plain_env.python,
        ["-c", code],
        tmp_path,
        PYTHONPATH=pythonpath,
        SPAWNFIX_PACKAGE_DIR=str(repo),
    )
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("user sitecustomize ran")]) == 1
    assert lines[-1] == f"True {user_dir / 'sitecustomize.py'}", result.output


def test_spawnfix_run_repairs_a_script_in_a_plain_interpreter(main_env, plain_env, tmp_path):
    """`spawnfix run -- python script.py` with an interpreter lacking spawnfix."""
    from corpus_runs import copy_corpus

    scripts = copy_corpus(tmp_path)
    result = run_python(
        main_env.python,
        ["-m", "spawnfix", "run", "--", plain_env.python, "corpus/top_executor.py"],
        scripts,
        START_METHOD="spawn",
        MARKER_FILE=str(tmp_path / "m.txt"),
    )
    assert result.returncode == 0, result.output
    assert "sum 2025" in result.stdout and "UnguardedMainWarning" in result.stderr


@pytest.mark.parametrize(
    ("code", "expected"),
    [("raise SystemExit(7)", 7), ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -15)],
)
def test_spawnfix_run_passes_exit_codes_and_signals_through(main_env, tmp_path, code, expected):
    """The command's exit status is spawnfix run's own."""
    result = run_python(
        main_env.bin("spawnfix"),
        ["run", "--mode", "quiet", "--", main_env.python, "-c", code],
        tmp_path,
    )
    assert result.returncode == expected, result.output


def test_command_line_basics(main_env, tmp_path):
    """--version, --help and doctor, as console script and as python -m spawnfix."""
    version = run_python(main_env.bin("spawnfix"), ["--version"], tmp_path)
    assert version.stdout.startswith("spawnfix 0."), version.output
    helptext = run_python(main_env.python, ["-m", "spawnfix", "--help"], tmp_path)
    for word in ("run", "doctor", "demo", "SPAWNFIX=on|quiet|strict|off"):
        assert word in helptext.stdout, helptext.output
    doctor = run_python(main_env.bin("spawnfix"), ["doctor"], tmp_path)
    assert "hook: active, started by" in doctor.stdout and "spawnfix.pth" in doctor.stdout
    assert "mode: on" in doctor.stdout and "wrapt: " in doctor.stdout
    off = run_python(main_env.bin("spawnfix"), ["doctor"], tmp_path, SPAWNFIX="off")
    assert "hook: inactive because SPAWNFIX turns it off" in off.stdout, off.output


def test_demo_shows_the_failure_and_the_fix(main_env, tmp_path):
    """`spawnfix demo`: broken without spawnfix, working with it."""
    result = run_python(main_env.bin("spawnfix"), ["demo"], tmp_path, timeout=300)
    assert result.returncode == 0, result.output
    assert "BrokenProcessPool" in result.stdout
    assert "squares: [0, 1, 4, 9, 16, 25, 36, 49]" in result.stdout


def _copy_source_tree(repo: Path, destination: Path) -> Path:
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    for name in tracked:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (repo / name).is_file():
            shutil.copy2(repo / name, target)
    return destination


@pytest.mark.parametrize("route", ["pip", "pip-editable", "uv"])
def test_install_routes(repo, tmp_path, route):
    """pip install ., pip install -e . and uv pip install . all give an active hook."""
    source = _copy_source_tree(repo, tmp_path / "src")
    venv = venvs.create(tmp_path / "venv", sys.executable)
    if route == "pip":
        venv.pip("install", "-c", str(_base_lock()), str(source))
    elif route == "pip-editable":
        venv.pip("install", "-c", str(_base_lock()), "-e", str(source))
    else:
        uv = venvs.test_tool("uv") or pytest.fail(
            f"uv is a test requirement: {sys.executable} -m pip install uv"
        )
        venvs.run_checked(
            [uv, "pip", "install", "--python", venv.python, "-c", str(_base_lock()), str(source)]
        )
    assert (venv.site_packages / "spawnfix.pth").exists()
    assert (venv.site_packages / "spawnfix.start").exists()
    result = run_python(venv.python, ["-c", PROBE], tmp_path)
    assert result.stdout.split() == ["True", "1"], result.output
    run = run_corpus(venv.python, "top_pool", "spawn", FILE, tmp_path)
    assert run.result.returncode == 0 and "sum 2470" in run.result.stdout, run.result.output


def test_patches_are_reversible_and_installed_once(main_env, tmp_path):
    """uninstall() restores the standard library's function; install() twice wraps once."""
    code = (
        "import multiprocessing.spawn as sp\n"
        "from spawnfix import mp_hooks\n"
        "patched = sp.get_preparation_data\n"
        "original = patched.__wrapped__\n"
        "mp_hooks.uninstall()\n"
        "restored = sp.get_preparation_data is original\n"
        "mp_hooks.install(sp); mp_hooks.install(sp)\n"
        "once = sp.get_preparation_data.__wrapped__ is original\n"
        "print(mp_hooks.is_installed(), restored, once, original.__module__)\n"
    )
    result = run_python(main_env.python, ["-c", code], tmp_path)
    assert result.stdout.split() == ["True", "True", "True", "multiprocessing.spawn"], result.output
