"""Child: whether the main script's re-run is ahead, in progress or over, and what waits
for its end.

``spawnfix.effect_guard`` runs the re-run and keeps this state; what a child sets up before
or during its re-run (the parent's logging handlers, files shared with the parent, sqlite
connections) asks it, and waits for the end with ``after_rerun``. Imports nothing.
"""

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# Inside the re-run (``effect_guard.quiet_rerun``).
in_rerun = False
# Set when the child's start announced the re-run (``spawnfix.rerun.announce``): what is
# set up before it (the parent's logging handlers) must not write until it has ended.
expected = False
# Called once the re-run has ended (``after_rerun``), in the order they were added.
waiting: "list[Any]" = []


def rerun_in_progress() -> bool:
    """Whether this process is inside its re-run."""
    return in_rerun


def expect_rerun() -> None:
    """The main script's re-run will come (its fix-up is taken over)."""
    global expected
    expected = True


def rerun_ahead() -> bool:
    """Whether this child is inside its re-run, or will run one."""
    return in_rerun or expected


def after_rerun(callback: "Any") -> None:
    """Run ``callback()`` when the re-run ends (once, however often it is added)."""
    if callback not in waiting:
        waiting.append(callback)


def run_waiting() -> None:
    """The re-run has ended: run what waited for it, unless another is still ahead."""
    while waiting and not expected:
        waiting.pop(0)()
