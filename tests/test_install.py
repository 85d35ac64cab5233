"""A user installs spawnfix and forgets it (issue 2): hook files, activation, fail-open,
the sitecustomize stub, ``spawnfix run`` and the three install routes.

The startup hook (issue 28) is ``spawnfix.pth`` alone: its one import line runs
``_spawnfix_startup.watch_imports()``, and spawnfix itself is imported only when a module it
acts on is (or when a program imports it).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import matrix_pythons
from support import locks, venvs
from support.corpus import FILE, run_corpus
from support.scripts import run_python

PROBE = (
    "import sys, spawnfix as s; "
    "print(s.is_active(), sum(type(f).__name__ == 'PostImportFinder' for f in sys.meta_path))"
)
WATCHER = "_spawnfix_startup"
PTH_LINE = "import _spawnfix_startup; _spawnfix_startup.watch_imports()"


def test_wheel_ships_the_hook_files_at_its_root(wheel):
    """spawnfix.pth and the module its line imports land directly in site-packages, and no
    PEP 829 spawnfix.start (issue 28); the stub ships too."""
    names = zipfile.ZipFile(wheel).namelist()
    assert "spawnfix.pth" in names and f"{WATCHER}.py" in names
    assert not [name for name in names if name.endswith(".start")], names
    assert "spawnfix/sitecustomize_stub/sitecustomize.py" in names
    pth = zipfile.ZipFile(wheel).read("spawnfix.pth").decode()
    assert pth == PTH_LINE + "\n"


def test_hook_is_active_after_install(main_env, tmp_path):
    """A plain interpreter of the environment has the hook, registered exactly once
    although virtual environments run .pth import lines twice."""
    result = run_python(main_env.python, ["-c", PROBE], tmp_path)
    assert result.stdout.split() == ["True", "1"], result.output


# Run with every warning shown: a Python that warns about the .pth import line (PEP 829:
# 3.20 on) fails; one that ignores it (3.18, 3.19) leaves no watcher, and fails too.
STARTUP_PROBE = """\
import sys
watcher = sys.modules.get("_spawnfix_startup")
print(watcher is not None and watcher in sys.meta_path, watcher and watcher.started_by)
print(sorted(m for m in sys.modules if m.startswith("spawnfix")))
import multiprocessing, spawnfix
print(spawnfix.is_active(), spawnfix.started_by, watcher in sys.meta_path)
print(sum(type(f).__name__ == "PostImportFinder" for f in sys.meta_path))
"""


@pytest.mark.parametrize("version", matrix_pythons())
def test_hook_runs_from_the_pth_line_alone(envs, tmp_path, version):
    """On each Python of the matrix the hook starts from spawnfix.pth's import line, with no
    .start file and no warning: the watcher waits (spawnfix not imported), ``import
    multiprocessing`` activates spawnfix once (one finder, the watcher gone), and ``spawnfix
    doctor`` names the .pth file."""
    env = envs.get(version)
    pth = env.site_packages / "spawnfix.pth"
    assert not list(env.site_packages.glob("*.start")), list(env.site_packages.glob("*.start"))
    result = run_python(env.python, ["-W", "always", "-c", STARTUP_PROBE], tmp_path)
    assert result.stderr == "" and result.returncode == 0, result.output
    assert result.stdout.splitlines() == [
        f"True {pth}",
        "[]",
        f"True {pth} False",
        "1",
    ], result.output
    doctor = run_python(env.python, ["-m", "spawnfix", "doctor"], tmp_path)
    assert f"hook: active, started by {pth}\n" in doctor.stdout, doctor.output
    assert "note:" not in doctor.stdout, doctor.output


@pytest.mark.parametrize("version", matrix_pythons())
def test_startup_imports_only_the_watcher(envs, tmp_path, version):
    """``python -c pass`` with spawnfix installed imports exactly one module more than the
    same environment without it: the watcher (nothing of spawnfix, wrapt, typing...). From
    3.13 on, site decodes any .pth file as utf-8-sig: the first one imports that codec."""
    code = "import sys; print(sorted(sys.modules))"
    modules = {}
    for installed in (True, False):
        env = envs.get(version, with_spawnfix=installed)
        result = run_python(env.python, ["-c", code], tmp_path)
        assert result.stderr == "" and result.returncode == 0, result.output
        modules[installed] = set(ast.literal_eval(result.stdout))
    by_site = {"encodings.utf_8_sig"} if tuple(map(int, version.split("."))) >= (3, 13) else set()
    assert modules[True] - modules[False] - by_site == {WATCHER}, modules[True] ^ modules[False]
    assert modules[False] <= modules[True]


def test_importing_multiprocessing_costs_little(main_env, tmp_path):
    """A program that imports multiprocessing and starts nothing gets spawnfix's package
    module and four small modules (thread origins, the start methods it names and the
    signature check of the functions that record them, the warm-start check) and nothing
    else: no ``__future__``, no ``_ast``, none of the launch machinery. With ``SPAWNFIX=0``
    the package module and its configuration, which says off."""
    code = (
        "import sys, multiprocessing; "
        "print(sorted(m for m in sys.modules if m.startswith(('spawnfix', '_spawnfix', "
        "'__future__', '_ast'))))"
    )
    result = run_python(main_env.python, ["-c", code], tmp_path)
    expected = [
        WATCHER,
        "spawnfix",
        "spawnfix.private_api",
        "spawnfix.start_method_choice",
        "spawnfix.thread_sites",
        "spawnfix.warm_forkserver",
    ]
    assert result.stdout.strip() == str(expected), result.output
    native = run_python(main_env.python, ["-c", code], tmp_path, SPAWNFIX="0")
    assert native.stdout.strip() == str([WATCHER, "spawnfix", "spawnfix.config"]), native.output


@pytest.mark.parametrize(
    "code",
    [
        "import wandb",  # not installed here: the watcher still starts spawnfix, which fails open
        "import concurrent.futures.process",
        "import cloudpickle",
    ],
)
def test_each_watched_import_starts_spawnfix(main_env, tmp_path, code):
    """Any watched module starts spawnfix, also one that is not installed (the import fails
    as it would without spawnfix); ``asyncio`` (which imports ``concurrent.futures``) does
    not."""
    probe = (
        "import sys, asyncio\n"
        "print('spawnfix' in sys.modules)\n"
        f"try:\n    {code}\nexcept ImportError as error:\n    print(type(error).__name__)\n"
        "print(sys.modules['spawnfix'].is_active())\n"
    )
    result = run_python(main_env.python, ["-c", probe], tmp_path)
    expected = ["False", "True"]
    if code == "import wandb":
        expected.insert(1, "ModuleNotFoundError")
    assert result.stdout.split() == expected and result.stderr == "", result.output


def test_spawnfix_off_is_inert(main_env, tmp_path):
    """SPAWNFIX=0: no finder (the watcher gone too), and multiprocessing.spawn stays the
    standard library's."""
    code = (
        PROBE + "; import multiprocessing.spawn as sp; "
        "print(hasattr(sp.get_preparation_data, 'spawnfix_patch'), "
        f"sys.modules[{WATCHER!r}] in sys.meta_path)"
    )
    for off in ("0", "off"):
        result = run_python(main_env.python, ["-c", code], tmp_path, SPAWNFIX=off)
        assert result.stdout.split() == ["False", "0", "False", "False"], result.output


def test_a_spawnfix_in_the_programs_folder_is_not_the_package(main_env, tmp_path):
    """spawnfix is imported after the program's folder leads sys.path: the watcher still
    imports the installed package, never a spawnfix.py beside the script."""
    (tmp_path / "spawnfix.py").write_text("print('the user spawnfix.py ran')\n")
    (tmp_path / "main.py").write_text(
        "import multiprocessing, sys\nprint(sys.modules['spawnfix'].is_active())\n"
    )
    for args in (
        ["main.py"],
        ["-c", "import multiprocessing, spawnfix; print(spawnfix.is_active())"],
    ):
        result = run_python(main_env.python, args, tmp_path)
        assert (result.stdout, result.stderr) == ("True\n", ""), result.output


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


def test_start_entry_point_for_python_3_18_starts_the_watcher(main_env, tmp_path):
    """The PEP 829 entry point the wheel for Python 3.18+ will ship (docs/install.md):
    resolved as site resolves it, it starts the same watcher."""
    code = (
        "import pkgutil, sys\n"
        "pkgutil.resolve_name('_spawnfix_startup:watch_imports', strict=True)()\n"
        "print('spawnfix' in sys.modules)\n"
        "import multiprocessing, spawnfix\n"
        "print(spawnfix.is_active())\n"
    )
    if sys.version_info < (3, 14):  # resolve_name's strict= is new in 3.14
        code = code.replace(", strict=True", "")
    # -S skips site (and so the .pth): only the entry point can start the watcher.
    add_site_packages = f"import sys; sys.path.append({str(main_env.site_packages)!r})\n"
    result = run_python(main_env.python, ["-S", "-c", add_site_packages + code], tmp_path)
    assert result.stdout.split() == ["False", "True"], result.output


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

    # A package that cannot be imported, or none at all: startup never imports it, and
    # watched imports go on as without spawnfix, their own errors unchanged.
    (package / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    for state in ("broken", "missing"):
        if state == "missing":
            shutil.rmtree(package)
        result = run_python(
            scratch_env.python, ["-c", "import multiprocessing; print(1)"], tmp_path
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", ""), state
        result = run_python(scratch_env.python, ["-c", "import multiprocess"], tmp_path)
        assert "No module named 'multiprocess'" in result.stderr, result.output
        assert "spawnfix" not in result.stderr, result.output


def test_a_watched_module_imported_before_the_hook_starts_spawnfix_at_once(scratch_env, tmp_path):
    """A .pth line that runs before spawnfix.pth and imports multiprocessing (coverage.py's,
    measuring a multiprocessing program, does): spawnfix starts with the watcher and patches
    the module already there."""
    (scratch_env.site_packages / "a_early.pth").write_text("import multiprocessing\n")
    code = (
        "import sys, spawnfix\n"
        "print(spawnfix.is_active(), sys.modules['_spawnfix_startup'] in sys.meta_path)\n"
        "from spawnfix import thread_sites\n"
        "print(bool(thread_sites._patches))\n"
    )
    result = run_python(scratch_env.python, ["-c", code], tmp_path)
    assert result.stdout.split() == ["True", "False", "True"], result.output


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
    from support.corpus import copy_corpus

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
    assert "through shared memory from 1 MiB (SPAWNFIX_SHARE_ABOVE)" in doctor.stdout
    unshared = run_python(main_env.bin("spawnfix"), ["doctor"], tmp_path, SPAWNFIX_SHARE_ABOVE="0")
    assert "numpy arrays through shared memory: off (SPAWNFIX_SHARE_ABOVE=0)" in unshared.stdout
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
    assert (venv.site_packages / "spawnfix.pth").read_text() == PTH_LINE + "\n"
    assert (venv.site_packages / f"{WATCHER}.py").exists()
    assert not (venv.site_packages / "spawnfix.start").exists()
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
