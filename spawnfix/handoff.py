"""What a spawn or forkserver child gets from spawnfix: one entry of its preparation data.

The parent (``spawnfix.mp_hooks`` and the modules it calls) fills one ``Handoff`` per
launch under ``KEY``: the parent's settings (environment, warnings, logging), a pool
worker's report pipe, the parent's values and the re-run plan (``spawnfix.rerun.RerunPlan``).
Each part pickles to plain data. The child rebuilds the hand-off with
``spawnfix.child_start.arrive``, which arranges one thing: that the child's
``spawn.prepare()``, called right after, runs the child's start around the standard
library's own preparation. The child never imports this module.
"""

from spawnfix.child_start import Received, arrive

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

    from spawnfix.rerun import RerunPlan


KEY = "spawnfix"
DEFAULT_PACKAGE = "multiprocessing"


class Handoff(Received):
    """Everything spawnfix gives one child, in the order the child recipe uses it: the
    package whose spawn module prepares the child (``multiprocess``...), the parent's
    settings (``spawnfix.inherited_config``), a pool worker's report pipe
    (``spawnfix.startup_reports``), the parent's globals (``spawnfix.parent_values``) and
    how far the child re-runs the main script (``spawnfix.rerun.RerunPlan``). The child
    rebuilds it as a plain ``child_start.Received``."""

    __slots__ = ()

    def __init__(self, package: str = DEFAULT_PACKAGE) -> None:
        super().__init__(package, None, None, None, None)

    def __reduce__(self) -> "Any":
        return (arrive, (self.package, self.settings, self.report, self.values, self.plan))


def in_preparation(data: "dict[str, Any]", package: str = DEFAULT_PACKAGE) -> Handoff:
    """Parent: the hand-off of the launch whose preparation data is ``data`` (made once)."""
    handoff = data.get(KEY)
    if not isinstance(handoff, Handoff):
        handoff = data[KEY] = Handoff(package)
    return handoff


def plan_in(data: "dict[str, Any]") -> "Optional[RerunPlan]":
    """Parent: the re-run plan already put into ``data``, if any."""
    handoff = data.get(KEY)
    return handoff.plan if isinstance(handoff, Handoff) else None
