"""Child: how a spawn or forkserver child that got a hand-off from spawnfix starts.

The standard library's recipe (``spawn._main``): load the preparation data, call
``prepare(data)`` (name, ``sys.path``, ``sys.argv``, working directory, start method, then
the main module's fix-up, which re-runs the main script), load the process object, run
it. Loading the preparation data unpickles spawnfix's ``Handoff``
(``spawnfix.handoff``), which calls ``run_at_prepare``; the next ``prepare()`` call then
runs ``start`` below, top to bottom:

1. a re-run ahead is announced (``spawnfix.rerun.announce``): a file the next steps
   open (a logging handler's) stays silent until the re-run has ended;
2. the parent's environment, warnings filters and logging (``spawnfix.inherited_config``);
3. a pool worker's excepthook, which tells the Pool's watchdog why the worker died if it
   dies before its first task (``spawnfix.startup_reports``);
4. the parent's values are kept for the re-run, and the program's own modules will get
   theirs when they are imported (``spawnfix.child_values``);
5. the main module's fix-up is taken over (``spawnfix.rerun``);
6. the standard library's ``prepare()``, whose fix-up is now the re-run: the script's
   top-level statements run one by one, muted and without effects
   (``spawnfix.effect_guard``), statements that only compute the parent's values are not
   run, and the values are bound (``spawnfix.child_values``);
7. the plan goes on to this child's own children, at its first launch.

Every step fails open: what goes wrong in one leaves the child as it would start
without that step.
"""

import sys

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from spawnfix.handoff import Handoff, RerunPlan


# The plan this child re-ran the main script under, which the parent side
# (spawnfix.mp_hooks) hands on to this child's own children.
inherited_plan: "Optional[RerunPlan]" = None


def run_at_prepare(handoff: "Handoff") -> None:
    """Have the next ``spawn.prepare()`` of this child run ``start`` (once)."""
    spawn = sys.modules.get(f"{handoff.package}.spawn")
    original = getattr(spawn, "prepare", None)
    from spawnfix.private_api import expects

    if original is None or not expects(original, "multiprocessing.spawn:prepare"):
        # Another layout: each step now, and the standard library's prepare() after it.
        start(handoff, spawn, None)
        return

    def prepare(data: "Any", *args: "Any", **kwargs: "Any") -> None:
        spawn.prepare = original
        start(handoff, spawn, lambda: original(data, *args, **kwargs))

    prepare.__wrapped__ = original  # type: ignore[attr-defined]
    spawn.prepare = prepare


def start(
    handoff: "Handoff", spawn: "Any", standard_prepare: "Optional[Callable[[], None]]"
) -> None:
    """The child's start, in order (see the module's docstring)."""
    log_decision("child received %r", handoff)
    plan = handoff.plan if spawn is not None else None
    if plan is not None:
        from spawnfix import rerun

        if not _step("announcing the re-run", rerun.announce, spawn):
            plan = None
    if handoff.settings is not None:
        _step("the parent's settings", handoff.settings.apply)
    if handoff.report is not None:
        _step("the startup report", handoff.report.install)
    values = None
    if handoff.values is not None:
        from spawnfix import child_values

        _step("the parent's values", child_values.arrive, handoff.values)
        values = child_values.received()
    if plan is not None:
        _step("the re-run", rerun.take_over_main_fixup, spawn, plan, values)
    if standard_prepare is not None:
        standard_prepare()
    if plan is not None:
        _step("handing the plan on", _hand_on_at_first_launch, spawn, plan)


def _step(what: str, function: "Callable[..., Any]", *args: "Any") -> "Any":
    try:
        return function(*args)
    except Exception as error:  # fail open: the child starts as it would without this step
        log_decision("child start: %s left out: %r", what, error)
        return None


def _hand_on_at_first_launch(spawn: "Any", plan: "RerunPlan") -> None:
    # The plan goes on to this child's own children (spawnfix.mp_hooks reads
    # ``inherited_plan``), but most workers never start one: the parent side is installed
    # at the child's first launch, not by every worker as it starts. Here the child
    # becomes a parent, through the package's own hooks.
    global inherited_plan
    import spawnfix

    inherited_plan = plan
    spawnfix.install_parent_side_at_first_launch(spawn)
