"""Child: how a spawn or forkserver child that got a hand-off from spawnfix starts.

The standard library's recipe (``spawn._main``): load the preparation data, call
``prepare(data)`` (name, ``sys.path``, ``sys.argv``, working directory, start method, then
the main module's fix-up, which re-runs the main script), load the process object, run
it. Loading the preparation data rebuilds spawnfix's hand-off (``spawnfix.handoff``) with
``arrive``, which only arranges that the next ``prepare()`` call runs ``start`` below, top
to bottom:

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

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from spawnfix.rerun import RerunPlan

# The plan this child re-ran the main script under, which the parent side
# (spawnfix.mp_hooks) hands on to this child's own children.
inherited_plan: "Optional[RerunPlan]" = None


class Received:
    """The hand-off as the child rebuilds it (``spawnfix.handoff.Handoff`` in the parent,
    which adds how it pickles)."""

    __slots__ = ("package", "plan", "report", "settings", "values")

    def __init__(
        self, package: str, settings: "Any", report: "Any", values: "Any", plan: "Any"
    ) -> None:
        self.package = package
        self.settings = settings
        self.report = report
        self.values = values
        self.plan = plan

    def __bool__(self) -> bool:
        """Whether it carries anything for the child."""
        return bool(self.settings or self.report or self.values or self.plan)

    def __repr__(self) -> str:
        parts = [name for name in ("settings", "report", "values", "plan") if getattr(self, name)]
        return f"hand-off ({self.package}: {', '.join(parts) or 'nothing'})"


def arrive(package: str, settings: "Any", report: "Any", values: "Any", plan: "Any") -> Received:
    """Unpickling the hand-off, in the child (``spawn._main`` loads the preparation data,
    then calls ``prepare()`` with it): rebuild it, and have that ``prepare()`` run
    ``start``."""
    received = Received(package, settings, report, values, plan)
    run_at_prepare(received)
    return received


def run_at_prepare(received: Received) -> None:
    """Have the next ``spawn.prepare()`` of this child run ``start`` (once)."""
    spawn = sys.modules.get(f"{received.package}.spawn")
    original = getattr(spawn, "prepare", None)
    # The parameters spawnfix.private_api lists for it, checked without importing that
    # module in every worker; where they differ, private_api says why and each step runs
    # now, before the standard library's prepare().
    code = getattr(original, "__code__", None)
    if code is None or code.co_varnames[: code.co_argcount][:1] != ("data",):
        if original is not None:
            from spawnfix.private_api import expects

            expects(original, "multiprocessing.spawn:prepare")
        start(received, spawn, None)
        return

    def prepare(data: "Any", *args: "Any", **kwargs: "Any") -> None:
        spawn.prepare = original
        start(received, spawn, lambda: original(data, *args, **kwargs))

    prepare.__wrapped__ = original  # type: ignore[attr-defined]
    spawn.prepare = prepare


def start(
    received: Received, spawn: "Any", standard_prepare: "Optional[Callable[[], None]]"
) -> None:
    """The child's start, in order (see the module's docstring)."""
    _log("child received %r", received)
    plan = received.plan if spawn is not None else None
    if plan is not None:
        from spawnfix import rerun

        if not _step("announcing the re-run", rerun.announce, spawn):
            plan = None
    if received.settings is not None:
        _step("the parent's settings", received.settings.apply)
    if received.report is not None:
        _step("the startup report", received.report.install)
    values = None
    if received.values is not None:
        from spawnfix import child_values

        _step("the parent's values", child_values.arrive, received.values)
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
        _log("child start: %s left out: %r", what, error)
        return None


def _log(message: str, *args: "Any") -> None:
    # Most workers never debug: spawnfix.diagnostics is imported only when SPAWNFIX_DEBUG
    # is set (its own test) or something imported it already.
    if "SPAWNFIX_DEBUG" in os.environ or "spawnfix.diagnostics" in sys.modules:
        from spawnfix.diagnostics import log_decision

        log_decision(message, *args)


def _hand_on_at_first_launch(spawn: "Any", plan: "RerunPlan") -> None:
    # The plan goes on to this child's own children (spawnfix.mp_hooks reads
    # ``inherited_plan``), but most workers never start one: the parent side is installed
    # at the child's first launch, not by every worker as it starts. Here the child
    # becomes a parent, through the package's own hooks.
    global inherited_plan
    import spawnfix

    inherited_plan = plan
    spawnfix.install_parent_side_at_first_launch(spawn)
