"""spawnfix: unguarded scripts that work under the spawn and forkserver start methods.

Installing the package adds a startup hook (``spawnfix.pth``; ``spawnfix.start`` on
Python 3.15+) that runs in every interpreter of the environment. The hook itself only
registers import watchers; the real work happens when the program imports
``multiprocessing.spawn`` or ``wandb``. See ``spawnfix.startup``.

This module stays tiny because the startup hook imports it in every process: the public
exception classes are loaded from ``spawnfix.errors`` on first access.
"""

__version__ = "0.1.0"

__all__ = [
    "ChildPicklingError",
    "SentByValueWarning",
    "SpawnfixConfigWarning",
    "UnguardedMainError",
    "UnguardedMainWarning",
    "WorkerStartupError",
    "__version__",
]


def __getattr__(name):
    if name in __all__ and name != "__version__":
        from spawnfix import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'spawnfix' has no attribute {name!r}")
