"""The ``spawnfix`` command line (also ``python -m spawnfix``).

- ``spawnfix run [--mode MODE] -- COMMAND...``: run any command with spawnfix active, for an
  interpreter where spawnfix is not installed into site-packages. It puts the
  ``sitecustomize`` stub first on ``PYTHONPATH`` and replaces itself with the command, so
  the exit code and signals are the command's own.
- ``spawnfix doctor [SCRIPT]``: whether the hook is active here and why, and what it would
  do; given a script, which modules its fork server would preload.
- ``spawnfix demo``: run an unguarded script under spawn with and without spawnfix.
- ``spawnfix check PATH...``: a linter for unguarded process starts (``spawnfix.static_check``).
- ``spawnfix fix PATH... [--write]``: move program code under the guard (``spawnfix.guard_fix``).
"""

from __future__ import annotations

import argparse
import os
import sys

import spawnfix
from spawnfix import config, messages
from spawnfix.run_command import PACKAGE_DIR, run_environment, stub_directory

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Optional


def command_run(args: argparse.Namespace) -> int:
    """Replace this process with the command, spawnfix active through the stub."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print(
            "spawnfix run: no command given (example: spawnfix run -- python train.py)",
            file=sys.stderr,
        )
        return 2
    env = run_environment(args.mode, os.environ)
    if args.debug:
        env[config.DEBUG_VARIABLE] = "1"
    if os.name == "posix":
        try:
            os.execvpe(command[0], command, env)
        except FileNotFoundError:
            print(f"spawnfix run: command not found: {command[0]}", file=sys.stderr)
            return 127
    import subprocess

    return subprocess.call(command, env=env)


def doctor_report() -> list[str]:
    """Lines describing spawnfix's state in this interpreter."""
    settings = config.reload()
    lines = [f"spawnfix {spawnfix.__version__} ({PACKAGE_DIR})"]
    lines.append(f"python: {sys.version.split()[0]} ({sys.executable})")
    mode_note = "" if settings.understood else f" (SPAWNFIX={settings.raw_mode!r} not understood)"
    lines.append(
        f"mode: {settings.mode}{mode_note}; debug log: {'on' if settings.debug else 'off'}"
    )
    lines.extend(messages.setting_not_understood(name, raw) for name, raw in settings.ignored)
    if spawnfix.is_active():
        lines.append(f"hook: active, started by {_hook_source()}")
    elif not settings.active:
        lines.append("hook: inactive because SPAWNFIX turns it off")
    else:
        reason = "; ".join(spawnfix.status) or "the startup hook did not run in this interpreter"
        lines.append(f"hook: inactive ({reason}); install spawnfix here or use `spawnfix run`")
    note = pth_note(sys.version_info, spawnfix.started_by)
    if note is not None:
        lines.append(note)
    import multiprocessing

    method = multiprocessing.get_start_method(allow_none=True) or _default_start_method()
    acts = (
        "re-runs the main script: spawnfix applies"
        if method != "fork"
        else ("fork does not re-run the main script; spawnfix applies to spawn/forkserver contexts")
    )
    lines.append(f"default start method: {method} ({acts})")
    if settings.values and settings.mode != config.STRICT:
        limit = f"{settings.value_limit / 2**20:g} MiB"
        scope = {
            config.AUTO: "children of programs written for fork: an unguarded script, or a "
            "start method the program did not choose",
            config.FORK: "every child (SPAWNFIX_VALUES=fork)",
            config.SPAWN: "an unguarded script's children only (SPAWNFIX_VALUES=spawn)",
        }[settings.children]
        lines.append(
            f"children get the parent's values, logging, warnings and environment: {scope}; "
            f"each value at most {limit}"
        )
    else:
        reason = "strict mode" if settings.mode == config.STRICT else "SPAWNFIX_VALUES=0"
        lines.append(f"children get the parent's values: off ({reason})")
    from spawnfix import parent_shared_buffers

    if parent_shared_buffers.threshold():
        lines.append(
            "numpy arrays sent to spawn/forkserver children at their start: through shared "
            f"memory from {settings.share_above / 2**20:g} MiB (SPAWNFIX_SHARE_ABOVE)"
        )
    else:
        reason = (
            "SPAWNFIX=off"
            if not settings.active
            else "SPAWNFIX_SHARE_ABOVE=0"
            if not settings.share_above
            else "no memfd_create on this system"
        )
        lines.append(f"numpy arrays through shared memory: off ({reason})")
    lines.append(f"wrapt: {_version('wrapt')}")
    wandb_version = _version("wandb")
    lines.append(f"wandb: {wandb_version}{_wandb_note(wandb_version)}")
    for name in ("torch", "pytorch-lightning", "lightning"):
        version = _version(name)
        if version != "not installed":
            lines.append(f"{name}: {version} (covered through its multiprocessing use)")
    return lines


def pth_note(version_info: Sequence[int], started_by: Optional[str]) -> Optional[str]:
    """The doctor's note for a Python that ignores import lines in ``.pth`` files (PEP 829:
    3.18 on), unless the hook was started by a ``.start`` file; None elsewhere."""
    if tuple(version_info[:2]) < (3, 18) or (started_by or "").endswith(".start"):
        return None
    return messages.pth_import_lines_ignored(f"{version_info[0]}.{version_info[1]}")


def _default_start_method() -> str:
    import multiprocessing

    return multiprocessing.get_context().get_start_method()


def _hook_source() -> str:
    if spawnfix.started_by is not None:
        return spawnfix.started_by
    stub = sys.modules.get("sitecustomize")
    stub_file = getattr(stub, "__file__", "") or ""
    if os.path.dirname(os.path.abspath(stub_file)) == os.path.abspath(stub_directory()):
        return f"the sitecustomize stub ({stub_file})"
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    for folder in folders:
        path = os.path.join(folder, "spawnfix.pth")
        if os.path.exists(path):
            return path
    return "an explicit spawnfix.activate() call"


def _version(distribution: str) -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python 3.7
        return "unknown"
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _wandb_note(version: str) -> str:
    if version == "not installed":
        return ""
    from spawnfix.wandb_hook import TESTED_RANGE, uses_multiprocessing_backend

    note = f" (wandb.init wrapped on import; tested {TESTED_RANGE}"
    if uses_multiprocessing_backend(version):
        note += "; backend uses multiprocessing: unguarded calls switch to thread start"
    return note + ")"


def children_report(script: str) -> list[str]:
    """Which children ``script`` gets, and why (``spawnfix doctor SCRIPT``)."""
    from spawnfix import running_script, static_check

    path = os.path.abspath(script)
    settings = config.current()
    loaded = running_script.load_script(path) if os.path.isfile(path) else None
    if loaded is None:
        return []
    try:
        unguarded = bool(static_check.check_file(path))
    except Exception:
        unguarded = False
    names = sorted(
        repr(name) if name else "a value it computes" for name in loaded.named_start_methods
    )
    default = _default_start_method()
    if not settings.values or settings.mode == config.STRICT:
        verdict = "its children re-import it (parent's values off)"
    elif unguarded or settings.children == config.FORK:
        why = "it starts processes outside its main guard" if unguarded else "SPAWNFIX_VALUES=fork"
        verdict = f"its children get the parent's values, as under fork ({why})"
    elif settings.children == config.SPAWN:
        verdict = "its children import it and compute their own globals (SPAWNFIX_VALUES=spawn)"
    elif names:
        verdict = (
            "its children import it and compute their own globals, as natively: it chooses "
            f"its start method ({', '.join(names)})"
        )
    elif default in ("fork", "spawn"):
        verdict = f"its children are the default start method's ({default}), as natively"
    else:
        verdict = (
            f"its children get the parent's values, as under fork: it names no start "
            f"method and the default is {default}"
        )
    return [f"children of {script}: {verdict}"]


def preload_report(script: str) -> list[str]:
    """What the fork server would preload for ``script`` (``spawnfix doctor SCRIPT``)."""
    from spawnfix.forkserver_preload import modules_children_import, modules_to_preload

    path = os.path.abspath(script)
    if not os.path.isfile(path):
        return [f"{script}: no such file"]
    if not config.current().preload:
        return [f"fork server preload for {script}: off (SPAWNFIX_PRELOAD=0)"]
    modules = modules_to_preload(path)
    listed = ", ".join(modules) if modules else "nothing (no top-level imports)"
    lines = [f"fork server preload for {script}: {listed}"]
    for_children = modules_children_import(path)
    if for_children:
        lines.append(f"  and, for its children's start: {', '.join(for_children)}")
    lines.append(
        "  (unless the program calls set_forkserver_preload; a module that raises or starts "
        "a thread there is skipped)"
    )
    return lines


def command_doctor(args: argparse.Namespace) -> int:
    """Print the doctor report (and, given a script, what its fork server preloads)."""
    lines = doctor_report()
    if args.script:
        lines += children_report(args.script)
        lines += preload_report(args.script)
    print("\n".join(lines))
    return 0


def command_check(args: argparse.Namespace) -> int:
    """Report unguarded process starts and hazards (exit 1 when there are any)."""
    from spawnfix import static_check

    return static_check.run(args.paths, args.format)


def command_fix(args: argparse.Namespace) -> int:
    """Show (or write) the move of each script's program code under the main guard."""
    from spawnfix import guard_fix

    return guard_fix.run(args.paths, write=args.write, force=args.force)


def command_demo(args: argparse.Namespace) -> int:
    """Run the bundled unguarded demo script without and with spawnfix."""
    from spawnfix import demo

    return demo.run(args.start_method)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="spawnfix",
        description=(
            'Make scripts without an `if __name__ == "__main__":` guard work under the '
            "spawn and forkserver start methods."
        ),
        epilog="Environment: SPAWNFIX=on|quiet|strict|off, SPAWNFIX_DEBUG=1, SPAWNFIX_PRELOAD=0.",
    )
    parser.add_argument("--version", action="version", version=f"spawnfix {spawnfix.__version__}")
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run a command with spawnfix active (no install into site-packages needed)",
        description="Run COMMAND with spawnfix active through a sitecustomize stub on "
        "PYTHONPATH. Exit code and signals are the command's own.",
    )
    run.add_argument("--mode", choices=config.MODES, help="set SPAWNFIX for the command")
    run.add_argument("--debug", action="store_true", help="set SPAWNFIX_DEBUG=1")
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    run.set_defaults(handler=command_run)

    doctor = commands.add_parser(
        "doctor",
        help="show whether spawnfix is active here, and why",
        description="Show whether spawnfix is active in this interpreter and why; given a "
        "script, also which modules spawnfix would preload in its fork server.",
    )
    doctor.add_argument("script", nargs="?", help="a main script to show the preload for")
    doctor.set_defaults(handler=command_doctor)

    check = commands.add_parser(
        "check",
        help="find unguarded top-level code that starts processes (a linter; exit 1 if any)",
        description="Report, without running them, the top-level statements of scripts "
        'that are not under `if __name__ == "__main__":` and that start processes '
        "(SPX001), call set_start_method (SPX002) or wandb.init (SPX003), as "
        "`path:line:col: CODE message`. Exit 1 when anything is found.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(handler=command_check)

    fix = commands.add_parser(
        "fix",
        help="show (or --write) the move of a script's program code under the main guard",
        description='Move each script\'s program code under `if __name__ == "__main__":`, '
        "keeping imports, functions, classes and the globals they read outside, with "
        "comments and formatting kept (needs libcst: pip install 'spawnfix[fix]'). Prints a "
        "unified diff unless --write. Refuses (exit 1) when the move would change what the "
        "program does, unless --force.",
    )
    fix.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    fix.add_argument("--write", action="store_true", help="apply the change to the files")
    fix.add_argument("--force", action="store_true", help="apply even a move that is refused")
    fix.set_defaults(handler=command_fix)

    demo = commands.add_parser(
        "demo", help="run an unguarded script with and without spawnfix, side by side"
    )
    demo.add_argument("--start-method", choices=("spawn", "forkserver"), default="spawn")
    demo.set_defaults(handler=command_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``spawnfix`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)
