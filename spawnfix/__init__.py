"""spawnfix: unguarded scripts that work under the spawn and forkserver start methods.

Installing the package adds a startup hook (``spawnfix.pth``; ``spawnfix.start`` on
Python 3.15+) that runs in every interpreter of the environment. The hook itself only
registers import watchers; the real work happens when the program imports
``multiprocessing.spawn`` or ``wandb``. See ``spawnfix.startup``.

This module stays tiny because the startup hook imports it in every process: the public
exception classes are loaded from ``spawnfix.errors`` on first access.
"""

__version__ = "0.1.0"  # the package's one version (pyproject.toml reads it from here)

__all__ = [
    "ChildPicklingError",
    "SentByValueWarning",
    "SpawnfixConfigWarning",
    "UnguardedMainError",
    "UnguardedMainWarning",
    "WorkerStartupError",
    "__version__",
    "activate",
]

# Type checkers read the real names; at run time importing them is deferred (the startup
# hook imports this module in every process, and ``typing`` costs milliseconds).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from spawnfix.errors import (
        ChildPicklingError,
        SentByValueWarning,
        SpawnfixConfigWarning,
        UnguardedMainError,
        UnguardedMainWarning,
        WorkerStartupError,
    )
    from spawnfix.startup import activate


def __getattr__(name: str) -> object:
    if name == "activate":
        from spawnfix.startup import activate

        return activate
    if name in __all__ and name != "__version__":
        from spawnfix import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'spawnfix' has no attribute {name!r}")
