"""The exception and warning classes that spawnfix raises or emits.

Kept separate from the message texts (``spawnfix.messages``) so that importing the
classes costs nothing at interpreter startup.
"""


class UnguardedMainWarning(UserWarning):
    """Emitted once, in the parent process, when spawnfix repairs an unguarded script.

    Turn it into an error with ``-W error::spawnfix.UnguardedMainWarning`` or silence it with
    ``SPAWNFIX=quiet``.
    """


class UnguardedMainError(RuntimeError):
    """Raised in the parent, in strict mode, before a child would re-run unguarded code.

    A ``RuntimeError`` subclass because the standard library reports the same situation
    (starting a process during the bootstrapping phase) with a ``RuntimeError``.
    """


class SpawnfixConfigWarning(UserWarning):
    """Emitted when ``SPAWNFIX`` holds a value that spawnfix does not understand."""
