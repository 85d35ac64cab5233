"""Parent side of the multiprocessing repair: find the spawn site, decide, tell the child.

``install`` wraps ``multiprocessing.spawn.get_preparation_data``, which every spawn and
forkserver launch calls in the parent before the child exists (``popen_spawn_posix``,
``popen_forkserver``, ``popen_spawn_win32`` and ``ForkServer.ensure_running``). The wrapper
lets the standard library build the preparation data, then:

1. does nothing unless the child will re-run the main script (``init_main_from_path`` or
   ``init_main_from_name`` in the data; never for ``python -c``, stdin or a REPL);
2. finds the spawn site (``spawnfix.running_script``) and the other unguarded top-level code
   a child would repeat (``set_start_method`` calls, ``wandb.init`` calls seen so far);
3. if there is nothing a child would trip over, leaves the data alone;
4. otherwise raises ``UnguardedMainError`` (strict mode), or warns once and puts a
   ``RerunPlan`` into the launch's hand-off (``spawnfix.handoff``), with which the child's
   start (``spawnfix.child_start``) re-runs the main script (``spawnfix.rerun``);
5. adds the rest of the hand-off: a pool worker's report pipe, and for a child of a
   program written for fork the parent's settings and values.

Children are also started from threads (a ``Pool``'s worker-handler thread replaces its
workers; dask starts its workers from its event-loop thread). The spawn site is then the
main thread's top-level statement (``spawnfix.running_script``). Once a plan has been sent,
every later child gets a plan too, never one that re-runs more of the script than the
plans before it; and a child that received a plan hands the same plan to its own children
(``spawnfix.child_start.inherited_plan``), so grandchildren
re-run the script as safely as children.

The same hook serves the forks of multiprocessing with the same ``spawn`` module
(``multiprocess``, ``billiard``): ``install`` takes whichever spawn module was imported.

The forkserver's own ``get_preparation_data('ignore')`` call decides whether the fork server
preloads the main script (Python 3.13.8+/3.14 do). For a script that needs the repair the
main path is withheld there, so the fork server does not run unguarded code itself.

The wrapper is a plain function, not a wrapt proxy: importing wrapt costs 15-60 ms, paid in
every process that starts a child, which alone is more than the whole budget for a small
``Pool``. See docs/performance.md.
"""

import os
import sys

from spawnfix import config, thread_sites
from spawnfix.diagnostics import log_decision, warn_once
from spawnfix.errors import UnguardedMainError, UnguardedMainWarning

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

    from spawnfix import messages
    from spawnfix.rerun import RerunPlan


WANDB_INIT = "wandb.init"
FORKSERVER_PRELOAD_CALL = "ignore"

# Lines of unguarded top-level calls observed by other hooks in this process (wandb.init),
# which every child re-running the script would repeat. Appended to by ``record_call``.
_observed_calls: "list[tuple[int, str]]" = []

# The replacements made in spawn modules (multiprocessing.spawn, multiprocess.spawn, ...:
# spawnfix.private_api.Patches), for ``uninstall``.
_patches: "Any" = None

# The narrowest plan sent to a child so far; every later child gets at most as much.
_sent_plan: "Optional[RerunPlan]" = None

# Whether a plan was sent because children would trip over unguarded code (not only to
# give them the parent's values).
_repair_plan_sent = False


def install(spawn_module: "Any") -> None:
    """Wrap ``spawn_module.get_preparation_data``; a second call is a no-op."""
    global _patches
    if _patches is not None and _patches.holds(spawn_module, "get_preparation_data"):
        return
    from spawnfix.private_api import expects

    original = spawn_module.get_preparation_data
    if not expects(original, "multiprocessing.spawn:get_preparation_data"):
        return
    package = spawn_module.__name__.rpartition(".")[0] or "multiprocessing"

    def get_preparation_data(name: str) -> "dict[str, Any]":
        data = original(name)
        from spawnfix import process_state

        if process_state.children_run_another_interpreter(spawn_module):
            return data  # it may have no spawnfix to unpickle ours: its children as natively
        caller = sys._getframe(1)
        _note_spawn_launch(package)
        if name == FORKSERVER_PRELOAD_CALL and package == "multiprocessing":
            _choose_fork_server_preload(data)
        caller_module = caller.f_globals.get("__name__", "")
        try:
            start_method = start_method_of_caller(caller_module, data)
            prepare_child_data(data, name, start_method, package)
        except (UnguardedMainError, UnguardedMainWarning):
            raise  # strict mode, or the warning turned into an error by a filter
        except Exception as error:  # fail open: the child starts as it would without us
            log_decision("spawn-site check failed, child started unchanged: %r", error)
        from spawnfix.handoff import KEY

        _add_startup_reporter(data, caller, package)
        start_method = start_method_of_caller(caller_module, data)
        _add_inherited_config(data, name, package, start_method)
        _add_parent_values(data, name, package, start_method)
        if KEY in data and not data[KEY]:
            del data[KEY]  # nothing for the child: it imports nothing of spawnfix's
        return data

    from spawnfix.private_api import Patches

    get_preparation_data.__doc__ = original.__doc__
    get_preparation_data.spawnfix_patch = True  # type: ignore[attr-defined]
    _patches = _patches or Patches()
    _patches.replace(spawn_module, "get_preparation_data", get_preparation_data)
    thread_sites.install()
    log_decision("patched %s.get_preparation_data", spawn_module.__name__)


def _choose_fork_server_preload(data: "dict[str, Any]") -> None:
    try:
        from spawnfix import forkserver_preload

        forkserver_preload.choose_preload(data, fork_server_imports_main)
    except Exception as error:  # fail open: the fork server starts as it would
        log_decision("fork server preload not extended: %r", error)


def _note_spawn_launch(package: str) -> None:
    # A spawn or forkserver child will unpickle what it runs: from now on, what cannot
    # travel by reference goes by value (spawnfix.by_value), for multiprocessing itself.
    if package != "multiprocessing":
        return
    try:
        from spawnfix import by_value

        by_value.install(sys.modules["multiprocessing.reduction"])
        by_value.note_spawn_launch()
    except Exception as error:  # fail open: pickling stays the standard library's
        log_decision("by-value pickling not installed: %r", error)


def _add_inherited_config(
    data: "dict[str, Any]", name: str, package: str, start_method: str
) -> None:
    # The parent's logging, warnings and environment, as a fork child would have them:
    # for a child of a program written for fork only. A program that chose spawn
    # configures its children itself (a worker's own basicConfig must take effect, a
    # warning the parent turned into an error must not raise there).
    try:
        from spawnfix import inherited_config

        if name == FORKSERVER_PRELOAD_CALL:
            inherited_config.note_fork_server_start()
            return
        if not _child_written_for_fork(data, start_method, package):
            log_decision("logging, warnings and environment left to the child, as natively")
            return
        from spawnfix.handoff import in_preparation

        handoff = in_preparation(data, package)
        inherited_config.add_to_preparation(handoff, start_method == "forkserver")
    except Exception as error:  # fail open: the child starts unconfigured, as natively
        log_decision("logging/warnings configuration not given to the child: %r", error)


def _child_written_for_fork(data: "dict[str, Any]", start_method: str, package: str) -> bool:
    # A child that re-runs the script under a plan (an unguarded script's), or of a guarded
    # program that did not choose ``start_method``: it gets what a fork child has.
    from spawnfix.handoff import plan_in

    return plan_in(data) is not None or guarded_children_get_fork_values(start_method, package)


def _sends_values() -> bool:
    # Fork-faithful children (spawnfix.parent_values), not in strict mode (which never
    # repairs) nor with SPAWNFIX_VALUES=0.
    mode = config.current()
    return mode.values and mode.mode != config.STRICT


def _add_parent_values(data: "dict[str, Any]", name: str, package: str, start_method: str) -> None:
    # The parent's globals at start(): __main__'s when the child re-runs the script
    # under a plan; the user's own modules' for every child of a program written for fork.
    if name == FORKSERVER_PRELOAD_CALL or not _sends_values():
        return
    if not _child_written_for_fork(data, start_method, package):
        return
    try:
        from spawnfix import parent_values
        from spawnfix.handoff import in_preparation, plan_in

        handoff = in_preparation(data, package)
        parent_values.add_to_preparation(handoff, plan_in(data) is not None)
    except Exception as error:  # fail open: the child computes its own values
        log_decision("parent values not given to the child: %r", error)


def _add_startup_reporter(data: "dict[str, Any]", caller: "Any", package: str) -> None:
    # A Pool worker's launch (popen ``_launch(self, process_obj)``) carries the pool
    # watchdog's report pipe, so that a worker failing before its target runs can say why.
    watchdog = sys.modules.get("spawnfix.pool_watchdog")
    if watchdog is None:
        return
    try:
        from spawnfix.handoff import in_preparation

        process_obj = caller.f_locals.get("process_obj")
        watchdog.add_startup_reporter(data, in_preparation(data, package), process_obj)
    except Exception as error:  # fail open
        log_decision("pool startup reporter not added: %r", error)


def uninstall() -> None:
    """Restore the original ``get_preparation_data`` in every patched spawn module."""
    if _patches:
        _patches.undo()
    thread_sites.uninstall()


def is_installed() -> bool:
    """Whether this process has the parent-side patch in place."""
    return bool(_patches)


def _inherited_plan() -> "Optional[RerunPlan]":
    # In a child that re-ran the script under a plan: that plan, for its own children.
    child_start = sys.modules.get("spawnfix.child_start")
    return None if child_start is None else child_start.inherited_plan


def record_call(line: int, what: str) -> None:
    """Remember an unguarded top-level call that children would repeat (e.g. wandb.init)."""
    if (line, what) not in _observed_calls:
        _observed_calls.append((line, what))


def start_method_of_caller(caller_module: str, data: "dict[str, Any]") -> str:
    """The start method of the launch: the popen module calling us knows it, the
    preparation data only has the default context's."""
    if "forkserver" in caller_module:
        return "forkserver"
    if "popen_spawn" in caller_module:
        return "spawn"
    return str(data.get("start_method") or "spawn")


# True while spawnfix.warm_forkserver starts the fork server ahead of need.
starting_ahead_of_need = False


def prepare_child_data(
    data: "dict[str, Any]", name: str, start_method: str, package: str = "multiprocessing"
) -> None:
    """Inspect the spawn site and add a re-run plan to ``data`` where the child needs one."""
    inherited = _inherited_plan()
    if inherited is not None:
        _attach_plan(data, name, inherited, package, "inherited")
        return
    from spawnfix import main_script, running_script

    main_module = sys.modules.get("__main__")
    path = running_script.rerun_path(main_module, data)
    if path is None:
        return  # the child re-runs nothing: python -c, a REPL, pkg/__main__.py
    if name == FORKSERVER_PRELOAD_CALL and starting_ahead_of_need:
        # spawnfix.warm_forkserver starts this fork server at an import, which is no spawn
        # site; it does so only where the fork server must not get the main script.
        _withhold_main_from_fork_server(data, path)
        return
    if "init_main_from_path" in data and not os.path.isfile(path):
        # ``python - < prog.py``: the child would die looking for a file named <stdin>.
        # Like a -c program it re-runs nothing; what it needs from __main__ is sent by
        # value (spawnfix.by_value).
        del data["init_main_from_path"]
        log_decision("main script %r is not a file: the child will not re-run it", path)
        return
    if name != FORKSERVER_PRELOAD_CALL and _plan_for_guarded_text(
        main_module, path, data, name, package, start_method
    ):
        return
    script = running_script.load_script(path)
    if script is None:
        log_decision("main script has no analysable source; child started unchanged")
        return
    site = running_script.find_spawn_site(main_module, script)
    statement = site.statement if site is not None and site.unguarded else None
    before = statement.first_line if statement is not None else None
    start_method_lines = script.unguarded_start_method_calls(before)
    wandb_lines = [
        line
        for line, what in _observed_calls
        if what == WANDB_INIT and (before is None or line < before)
    ]
    _log_site(site, script.path)
    if name == FORKSERVER_PRELOAD_CALL and _dynamically_guarded(site):
        # 3.13.8+/3.14 run the main script in the fork server, where current_process()
        # is "MainProcess" too: the dynamic guard would start the program there.
        _withhold_main_from_fork_server(data, script.path)
        return
    if statement is None and not start_method_lines and not wandb_lines:
        if name == FORKSERVER_PRELOAD_CALL and keeps_guarded_main_in_fork_server(script):
            log_decision("the fork server may preload the guarded main script")
        else:
            _attach_guarded_plan(data, name, package, script.path, script.digest, start_method)
        return

    needs_plan = statement is not None or bool(start_method_lines)
    if needs_plan:
        global _repair_plan_sent
        _repair_plan_sent = True
    if name == FORKSERVER_PRELOAD_CALL:
        if needs_plan or _sent_plan is not None:
            _withhold_main_from_fork_server(data, script.path)
        return

    from spawnfix import messages

    mode = config.current()
    strict = mode.mode == config.STRICT
    hazards = _hazards(script, start_method_lines, wandb_lines, strict)
    findings = messages.UnguardedFindings(
        script.path,
        start_method,
        (statement.first_line, statement.last_line) if statement is not None else None,
        script.line_text(statement.first_line) if statement is not None else "",
        statement is not None and statement.kind == main_script.COMPOUND,
        hazards,
    )
    if strict:
        raise UnguardedMainError(findings.error())
    if mode.warns:
        warn_once("launch", findings.warning(), script.path, findings.first_line)
    if needs_plan or _sent_plan is not None:
        from spawnfix.rerun import RerunPlan

        plan = RerunPlan.for_statement(script, statement) if needs_plan else None
        _attach_plan(data, name, plan or _sent_plan, package, "new")


def _plan_for_guarded_text(
    main_module: object,
    path: str,
    data: "dict[str, Any]",
    name: str,
    package: str,
    start_method: str,
) -> bool:
    # The common guarded launch, decided from the script's text without parsing it
    # (running_script.source_if_site_in_main_guard): what the parse would decide for a
    # guarded site with no unguarded set_start_method or wandb.init calls. False: parse.
    from spawnfix import main_script, running_script

    if any(what == WANDB_INIT for _, what in _observed_calls):
        return False
    source = running_script.source_if_site_in_main_guard(main_module, path)
    if source is None:
        return False
    log_decision("spawn site inside the main guard of %s (read from the text)", path)
    script_path = main_script.absolute_path(path)
    digest = main_script.source_digest(source)
    _attach_guarded_plan(data, name, package, script_path, digest, start_method)
    return True


def _attach_guarded_plan(
    data: "dict[str, Any]", name: str, package: str, path: str, digest: str, start_method: str
) -> None:
    # A guarded site: the plan sent before, or, with values, a plan by which the child
    # re-runs the script without effects and gets the parent's values
    # (spawnfix.parent_values) instead of re-importing it.
    if _repair_plan_sent and _sent_plan is not None:
        _attach_plan(data, name, _sent_plan, package, "as sent before")
    elif _sends_values() and guarded_children_get_fork_values(start_method, package):
        from spawnfix.rerun import RerunPlan

        plan = RerunPlan(path, digest, None, None)
        _attach_plan(data, name, plan, package, "for the parent's values")
    else:
        log_decision(
            "guarded program chose %s itself: its children import the script, as natively",
            start_method,
        )


def guarded_children_get_fork_values(start_method: str, package: str) -> bool:
    """Whether a guarded program's child started with ``start_method`` gets the parent's
    values (``SPAWNFIX_VALUES``: ``auto`` decides by ``spawnfix.start_method_choice``)."""
    children = config.current().children
    if children != config.AUTO:
        return children == config.FORK
    from spawnfix import start_method_choice

    return start_method_choice.written_for_fork(start_method, package)


def keeps_guarded_main_in_fork_server(script: "Any", ahead_of_need: bool = False) -> bool:
    """Whether a fork server that imports the main script (3.13.8+/3.14) may import this
    guarded one, as the standard library does.

    Yes when spawnfix sends no values (``SPAWNFIX_VALUES=0``, strict mode) or leaves the
    fork server's preload alone (``SPAWNFIX_PRELOAD=0``), when the program chose the
    preload (``set_forkserver_preload``), or when the script's top-level code reads its
    module name (``script.observes_its_module_name``): each child then gets the parent's
    values on top of that import. Otherwise the fork server gets the script's imports
    only and each child re-runs its top level without effects, with the parent's values:
    the top level never runs a second time, as under fork (where the fork server's
    import printed a banner again or truncated a log), and the fork server no longer
    needs the ``sys.argv`` of the first child's start, so it can start ahead of need
    (``spawnfix.warm_forkserver``).
    """
    if _repair_plan_sent or _inherited_plan() is not None:
        return False
    if not _sends_values() or not config.current().preload:
        return True
    if not _forkserver_children_get_fork_values(script, ahead_of_need):
        return True  # a program that chose forkserver: its fork server imports it, as natively
    from spawnfix import forkserver_preload

    return forkserver_preload.program_chose_preload() or script.observes_its_module_name


def fork_server_imports_main(script: "Any", ahead_of_need: bool = False) -> bool:
    """Whether the fork server imports the main script (3.13.8+/3.14) as the standard
    library has it: a guarded script that ``keeps_guarded_main_in_fork_server``; an
    unguarded one never (its children get fork's values instead)."""
    if not any(statement.guarded for statement in script.statements):
        return False
    return keeps_guarded_main_in_fork_server(script, ahead_of_need)


def _forkserver_children_get_fork_values(script: "Any", ahead_of_need: bool = False) -> bool:
    # At the first forkserver launch the program has chosen its method or not. Ahead of
    # need (spawnfix.warm_forkserver, at ``import multiprocessing``) it may not have yet:
    # a source that names "forkserver", or a method it does not spell out, will choose it.
    children = config.current().children
    if children != config.AUTO:
        return children == config.FORK
    if not (starting_ahead_of_need or ahead_of_need):
        return guarded_children_get_fork_values("forkserver", "multiprocessing")
    names = script.named_start_methods if script.tree is not None else {None}
    if "forkserver" in names or None in names:
        return False
    return guarded_children_get_fork_values("forkserver", "multiprocessing")


def _attach_plan(
    data: "dict[str, Any]", name: str, plan: "RerunPlan", package: str, origin: str
) -> None:
    global _sent_plan
    if name == FORKSERVER_PRELOAD_CALL:
        _withhold_main_from_fork_server(data, plan.path)
        return
    _sent_plan = plan.narrowest(_sent_plan)
    from spawnfix.handoff import in_preparation

    plan = in_preparation(data, package).plan = _sent_plan.for_package(package)
    log_decision("child gets a re-run plan (%s): %r", origin, plan)


def _dynamically_guarded(site: "Any") -> bool:
    from spawnfix import main_script

    statement = site.statement if site is not None else None
    return statement is not None and statement.guard == main_script.GUARD_DYNAMIC


def _withhold_main_from_fork_server(data: "dict[str, Any]", path: str) -> None:
    data.pop("init_main_from_path", None)
    log_decision("fork server will not preload %s (its imports instead)", path)


def _hazards(
    script: "Any", start_method_lines: "list[int]", wandb_lines: "list[int]", strict: bool
) -> "list[messages.Finding]":
    from spawnfix import messages

    start_text = messages.START_METHOD_STRICT_HAZARD if strict else messages.START_METHOD_HAZARD
    wandb_text = messages.WANDB_STRICT_HAZARD if strict else messages.WANDB_HAZARD
    found = [(line, script.line_text(line), start_text) for line in start_method_lines]
    found += [(line, script.line_text(line), wandb_text) for line in wandb_lines]
    return sorted(found)


def _log_site(site: "Any", path: str) -> None:
    if site is None:
        log_decision("child started from outside %s's top-level code: left alone", path)
    elif site.statement is None:
        log_decision("spawn site %s:%d is not a top-level statement", path, site.line)
    else:
        state = "unguarded" if site.unguarded else f"guarded ({site.statement.guard})"
        log_decision(
            "spawn site %s:%d, top-level %s statement at lines %d-%d, %s",
            path,
            site.line,
            site.statement.kind,
            site.statement.first_line,
            site.statement.last_line,
            state,
        )
