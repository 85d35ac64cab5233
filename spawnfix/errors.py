"""The exception and warning classes that spawnfix raises or emits.

Kept separate from the message texts (``spawnfix.messages``) so that importing the
classes costs nothing at interpreter startup.
"""

import pickle


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


class SentByValueWarning(UserWarning):
    """Emitted once, by the parent, when spawnfix sends a function or class to a child by
    value (cloudpickle) because the child could not find it by reference (a lambda, a
    closure, a local class, or a definition in a notebook or ``python -c`` program)."""


class ChildPicklingError(pickle.PicklingError, TypeError):
    """Raised in strict mode (``SPAWNFIX=strict``) instead of sending a function or class
    to a child by value. (Something that cannot be pickled even by value, an open file or
    a ``threading.Lock``, raises the standard library's own error, with a note.)

    A ``pickle.PicklingError`` and a ``TypeError``, the two errors the standard library
    raises for the same situation (``except`` clauses written for either still work); its
    message names the object, where it sits in what was being sent, why
    ``fork`` did not need it, and the fix.
    """
