"""Configuration from the environment, read in one place.

Every other module asks ``current()`` instead of reading ``os.environ``. The values are
read once per process, at first use, because the startup hook and the patches must agree
for the whole life of the process.

| ``SPAWNFIX``                 | mode     | meaning                                          |
|------------------------------|----------|--------------------------------------------------|
| unset, ``1``, ``on``, ...    | ``on``   | repair unguarded scripts, warn once              |
| ``quiet``                    | ``quiet``| repair, no warning                               |
| ``strict``                   | ``strict``| never repair: raise ``UnguardedMainError``      |
| ``0``, ``off``, ...          | ``off``  | inert: nothing is patched                        |

``SPAWNFIX_DEBUG=1`` logs every decision through the ``spawnfix`` logger to stderr.
``SPAWNFIX_PRELOAD=0`` stops spawnfix from extending the fork server's preload (and from
starting the fork server ahead of need); ``SPAWNFIX_WARM=0`` only from the latter.
``SPAWNFIX_VALUES=0`` stops children from receiving the parent's values and re-running the
main script without effects (``spawnfix.parent_values``); they re-import it as before.
``SPAWNFIX_VALUE_LIMIT`` (bytes, or a number with ``k``, ``M`` or ``G``) is the largest
pickled size of one value sent to a child.
"""

import os

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings

if TYPE_CHECKING:
    from collections.abc import Mapping

MODE_VARIABLE = "SPAWNFIX"
DEBUG_VARIABLE = "SPAWNFIX_DEBUG"
PRELOAD_VARIABLE = "SPAWNFIX_PRELOAD"
VALUES_VARIABLE = "SPAWNFIX_VALUES"
WARM_VARIABLE = "SPAWNFIX_WARM"
VALUE_LIMIT_VARIABLE = "SPAWNFIX_VALUE_LIMIT"
DEFAULT_VALUE_LIMIT = 16 * 2**20

ON = "on"
QUIET = "quiet"
STRICT = "strict"
OFF = "off"
MODES = (ON, QUIET, STRICT, OFF)

_SPELLINGS = {
    "": ON,
    "1": ON,
    "on": ON,
    "true": ON,
    "yes": ON,
    "quiet": QUIET,
    "strict": STRICT,
    "0": OFF,
    "off": OFF,
    "false": OFF,
    "no": OFF,
}
_TRUE_DEBUG = {"1", "on", "true", "yes"}
_FALSE_PRELOAD = {"0", "off", "false", "no"}


class Config:
    """What spawnfix should do in this process, decided from the environment."""

    __slots__ = (
        "debug",
        "mode",
        "preload",
        "raw_mode",
        "understood",
        "value_limit",
        "values",
        "warm",
    )

    def __init__(
        self,
        mode: str,
        debug: bool,
        raw_mode: "str | None",
        understood: bool,
        preload: bool = True,
        values: bool = True,
        value_limit: int = DEFAULT_VALUE_LIMIT,
        warm: bool = True,
    ) -> None:
        self.mode = mode
        self.debug = debug
        self.raw_mode = raw_mode
        self.understood = understood
        self.preload = preload
        self.values = values
        self.value_limit = value_limit
        self.warm = warm and preload

    @property
    def active(self) -> bool:
        """Whether any patch may be installed at all (false only for ``off``)."""
        return self.mode != OFF

    @property
    def warns(self) -> bool:
        """Whether a repair is announced with an ``UnguardedMainWarning``."""
        return self.mode == ON

    def __repr__(self) -> str:
        return (
            f"Config(mode={self.mode!r}, debug={self.debug!r}, raw_mode={self.raw_mode!r}, "
            f"preload={self.preload!r}, values={self.values!r})"
        )


def parse(environ: "Mapping[str, str]") -> "Config":
    """Turn environment variables into a ``Config``; unknown values fall back to ``on``."""
    raw = environ.get(MODE_VARIABLE)
    spelled = (raw or "").strip().lower()
    mode = _SPELLINGS.get(spelled)
    understood = mode is not None
    debug = environ.get(DEBUG_VARIABLE, "").strip().lower() in _TRUE_DEBUG
    preload = environ.get(PRELOAD_VARIABLE, "").strip().lower() not in _FALSE_PRELOAD
    values = environ.get(VALUES_VARIABLE, "").strip().lower() not in _FALSE_PRELOAD
    limit = parse_size(environ.get(VALUE_LIMIT_VARIABLE, ""), DEFAULT_VALUE_LIMIT)
    warm = environ.get(WARM_VARIABLE, "").strip().lower() not in _FALSE_PRELOAD
    return Config(mode or ON, debug, raw, understood, preload, values, limit, warm)


# Set in the environment once the unknown-mode warning was given: children inherit it.
_CONFIG_REPORTED = "SPAWNFIX_CONFIG_REPORTED"


def warn_unknown_mode(raw: str) -> None:
    """Warn, once per process tree, that ``SPAWNFIX=raw`` was not understood (spawnfix then
    runs in its default mode); called by the startup hook."""
    if os.environ.get(_CONFIG_REPORTED):
        return
    os.environ[_CONFIG_REPORTED] = "1"
    import warnings

    from spawnfix import messages
    from spawnfix.errors import SpawnfixConfigWarning

    warnings.warn(messages.unknown_mode(raw), SpawnfixConfigWarning, stacklevel=2)


_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30}


def parse_size(raw: str, default: int) -> int:
    """``"1000"``, ``"64M"``, ``"1.5G"`` (``KiB``/``MB`` spellings too) as bytes; ``default``
    for an empty or unreadable value."""
    text = raw.strip().lower().rstrip("ib")
    if not text:
        return default
    factor = _UNITS.get(text[-1], 1)
    try:
        return int(float(text.rstrip("kmg")) * factor)
    except ValueError:
        return default


# The process-wide configuration, read on first use; tests in the same process may
# call ``reload()`` after changing the environment.
_current: "Config | None" = None


def current() -> "Config":
    """Return the configuration of this process, reading the environment on first use."""
    global _current
    if _current is None:
        _current = parse(os.environ)
    return _current


def reload() -> "Config":
    """Read the environment again (for tests and for ``spawnfix doctor``)."""
    global _current
    _current = parse(os.environ)
    return _current
