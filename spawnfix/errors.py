"""The exception and warning classes that spawnfix raises or emits.

Kept separate from the message texts (``spawnfix.messages``) so that importing the
classes costs nothing at interpreter startup.
"""


class UnguardedMainWarning(UserWarning):
    """Emitted once, in the parent process, when spawnfix repairs an unguarded script.

    A ``UserWarning`` subclass: ``-W error::UserWarning`` (or
    ``warnings.simplefilter("error", spawnfix.UnguardedMainWarning)``) turns it into an
    error, ``SPAWNFIX=quiet`` silences it. ``-W error::spawnfix.UnguardedMainWarning`` does
    not work on the command line: Python reads ``-W`` before site-packages is importable.
    """


class UnguardedMainError(RuntimeError):
    """Raised in the parent, in strict mode, before a child would re-run unguarded code.

    A ``RuntimeError`` subclass because the standard library reports the same situation
    (starting a process during the bootstrapping phase) with a ``RuntimeError``.
    """


class SpawnfixConfigWarning(UserWarning):
    """Emitted when ``SPAWNFIX`` holds a value that spawnfix does not understand."""


class WorkerStartupError(RuntimeError):
    """Raised in the parent when a ``Pool``'s workers keep dying before they get going.

    Its message carries the worker's own exception (type, message, file and line) and the
    fix where spawnfix knows it. Pending and later calls on that pool raise it; the pool
    is terminated. A ``RuntimeError`` subclass, like ``BrokenProcessPool``'s base.
    """
