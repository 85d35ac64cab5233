"""What a spawn or forkserver child gets from spawnfix: one entry of its preparation data.

The parent (``spawnfix.mp_hooks`` and the modules it calls) fills one ``Handoff`` per
launch under ``KEY``: the parent's settings (environment, warnings, logging), a pool
worker's report pipe, the parent's values and the re-run plan. Each part pickles to
plain data. Unpickling the hand-off in the child builds it and arranges one thing: that
the child's ``spawn.prepare()``, called right after, runs spawnfix's child recipe
(``spawnfix.child_start``) around the standard library's own preparation.

Every child that gets a hand-off imports this module before its main module exists:
it imports nothing at its top.
"""

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

KEY = "spawnfix"
DEFAULT_PACKAGE = "multiprocessing"


class RerunPlan:
    """How far a child re-runs the main script (``spawnfix.rerun``).

    ``statement_count`` is how many top-level statements the child may run (None: all of
    them, stopping at the first process start). Only standard types travel: the child
    unpickles the plan before ``__main__`` exists.
    """

    __slots__ = ("digest", "package", "path", "site_line", "statement_count")

    def __init__(
        self,
        path: str,
        digest: str,
        statement_count: "Optional[int]",
        site_line: "Optional[int]",
        package: str = DEFAULT_PACKAGE,
    ) -> None:
        self.path = path
        self.digest = digest
        self.statement_count = statement_count
        self.site_line = site_line
        self.package = package

    @classmethod
    def for_statement(cls, script: "Any", statement: "Any") -> "RerunPlan":
        """Plan for a spawn site: a simple statement is never run, a compound one is run
        up to its first process start; nothing after the site runs. No site: run all."""
        if statement is None:
            return cls(script.path, script.digest, None, None)
        count = statement.index if statement.kind == "simple" else statement.index + 1
        return cls(script.path, script.digest, count, statement.first_line)

    def narrowest(self, other: "Optional[RerunPlan]") -> "RerunPlan":
        """The plan that runs fewer statements: a later child never re-runs more of the
        script than an earlier one was allowed to."""
        if other is None or other.path != self.path:
            return self
        if other.statement_count is None:
            return self
        if self.statement_count is None or other.statement_count < self.statement_count:
            return other
        return self

    def for_package(self, package: str) -> "RerunPlan":
        """The same plan, for children prepared by ``package`` (``multiprocess``...)."""
        if package == self.package:
            return self
        return RerunPlan(self.path, self.digest, self.statement_count, self.site_line, package)

    def __reduce__(self) -> "Any":
        return (
            RerunPlan,
            (self.path, self.digest, self.statement_count, self.site_line, self.package),
        )

    def __repr__(self) -> str:
        if self.statement_count is None:
            where = "run every statement until the first process start"
        elif self.site_line is None:
            where = f"run {self.statement_count} statements"
        else:
            where = f"run {self.statement_count} statements (spawn site at line {self.site_line})"
        return f"RerunPlan({self.path!r}, {where}, {self.package})"


class Handoff:
    """Everything spawnfix gives one child, in the order the child recipe uses it."""

    __slots__ = ("package", "plan", "report", "settings", "values")

    def __init__(self, package: str = DEFAULT_PACKAGE) -> None:
        self.package = package  # whose spawn module prepares the child (multiprocess...)
        self.settings: Any = None  # spawnfix.inherited_config: environment, warnings, logging
        self.report: Any = None  # spawnfix.startup_reports: a pool worker's report pipe
        self.values: Any = None  # spawnfix.parent_values: the parent's globals
        self.plan: Optional[RerunPlan] = None  # how far the child re-runs the main script

    def __reduce__(self) -> "Any":
        return (_arrive, (self.package, self.settings, self.report, self.values, self.plan))

    def __repr__(self) -> str:
        parts = [name for name in ("settings", "report", "values", "plan") if getattr(self, name)]
        return f"Handoff({self.package}: {', '.join(parts) or 'nothing'})"


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


def _arrive(package: str, settings: "Any", report: "Any", values: "Any", plan: "Any") -> Handoff:
    # Unpickling, in the child (spawn._main loads the preparation data, then calls
    # prepare() with it): build the hand-off and have prepare() run the recipe.
    handoff = Handoff(package)
    handoff.settings = settings
    handoff.report = report
    handoff.values = values
    handoff.plan = plan
    from spawnfix import child_start

    child_start.run_at_prepare(handoff)
    return handoff
