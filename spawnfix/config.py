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
``SPAWNFIX_VALUES`` says which children get the parent's values and re-run the main script
without effects (``spawnfix.parent_values``), as under fork: ``auto`` (the default, also
``1``/``on``) those of programs written for fork (an unguarded script; a start method the
program did not choose), ``fork`` every child, ``spawn`` only an unguarded script's (it
cannot run otherwise), ``0``/``off`` none (children re-import the script as before).
``SPAWNFIX_VALUE_LIMIT`` (bytes, or a number with ``k``, ``M`` or ``G``) is the largest
pickled size of one value sent to a child. ``SPAWNFIX_SHARE_ABOVE`` (a size, default
``1M``) is the smallest numpy array a spawn or forkserver child gets through shared memory
(``spawnfix.parent_shared_buffers``); ``0``/``off`` sends every array through the pipe.

Reading fails open: a value spawnfix does not understand leaves that setting at its
default (named under ``SPAWNFIX_DEBUG``, or warned about for ``SPAWNFIX``), and nothing
here raises, whatever the environment holds.
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
SHARE_ABOVE_VARIABLE = "SPAWNFIX_SHARE_ABOVE"
DEFAULT_SHARE_ABOVE = 2**20

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
_TRUE = {"1", "on", "true", "yes"}
# SPAWNFIX_VALUES: which children get fork's values (``Config.children``).
AUTO = "auto"
FORK = "fork"
SPAWN = "spawn"
_CHILDREN_SPELLINGS = {"auto": AUTO, "fork": FORK, "always": FORK, "spawn": SPAWN}
_FALSE = {"0", "off", "false", "no"}


class Config:
    """What spawnfix should do in this process, decided from the environment."""

    __slots__ = (
        "children",
        "debug",
        "ignored",
        "mode",
        "preload",
        "raw_mode",
        "share_above",
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
        ignored: "tuple[tuple[str, str], ...]" = (),
        children: str = AUTO,
        share_above: int = DEFAULT_SHARE_ABOVE,
    ) -> None:
        self.mode = mode
        self.debug = debug
        self.raw_mode = raw_mode
        self.understood = understood
        self.preload = preload
        self.values = values
        # Which children get fork's values when ``values`` is on: AUTO, FORK or SPAWN.
        self.children = children
        self.value_limit = value_limit
        # The smallest array sent through shared memory (bytes); 0: none.
        self.share_above = share_above
        self.warm = warm and preload
        # (variable, value) pairs not understood, left at their default (not SPAWNFIX's).
        self.ignored = ignored

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
            f"preload={self.preload!r}, values={self.values!r}, children={self.children!r})"
        )


def parse(environ: "Mapping[str, str]") -> "Config":
    """Turn environment variables into a ``Config``; a value not understood leaves its
    setting at the default (``on`` for the mode), and is listed in ``ignored``."""
    raw = environ.get(MODE_VARIABLE)
    mode = _SPELLINGS.get(_spelling(raw or ""))
    ignored: list[tuple[str, str]] = []

    def switch(name: str, default: bool) -> bool:
        value = parse_switch(environ.get(name, ""), default)
        if value is None:
            ignored.append((name, environ[name]))
            return default
        return value

    debug = switch(DEBUG_VARIABLE, False)
    preload = switch(PRELOAD_VARIABLE, True)
    children = _CHILDREN_SPELLINGS.get(_spelling(environ.get(VALUES_VARIABLE, "")), AUTO)
    values = True
    if _spelling(environ.get(VALUES_VARIABLE, "")) not in _CHILDREN_SPELLINGS:
        values = switch(VALUES_VARIABLE, True)
    warm = switch(WARM_VARIABLE, True)
    limit = parse_size(environ.get(VALUE_LIMIT_VARIABLE, ""), DEFAULT_VALUE_LIMIT)
    if limit is None:
        ignored.append((VALUE_LIMIT_VARIABLE, environ[VALUE_LIMIT_VARIABLE]))
        limit = DEFAULT_VALUE_LIMIT
    share_above = _share_above(environ.get(SHARE_ABOVE_VARIABLE, ""))
    if share_above is None:
        ignored.append((SHARE_ABOVE_VARIABLE, environ[SHARE_ABOVE_VARIABLE]))
        share_above = DEFAULT_SHARE_ABOVE
    return Config(
        mode or ON,
        debug,
        raw,
        mode is not None,
        preload,
        values,
        limit,
        warm,
        tuple(ignored),
        children,
        share_above,
    )


def _share_above(raw: str) -> "int | None":
    # A size; ``0``/``off``/``no``... turn sharing off, ``on`` is the default; None: not
    # understood.
    if _spelling(raw) in _FALSE:
        return 0
    if _spelling(raw) in _TRUE - {"1"}:
        return DEFAULT_SHARE_ABOVE
    return parse_size(raw, DEFAULT_SHARE_ABOVE)


def _spelling(raw: str) -> str:
    return raw.strip().lower()


def parse_switch(raw: str, default: bool) -> "bool | None":
    """``True`` for ``1``/``on``/``true``/``yes``, ``False`` for ``0``/``off``/``false``/
    ``no``, ``default`` for an empty value, None for anything else."""
    spelled = _spelling(raw)
    if not spelled:
        return default
    if spelled in _TRUE:
        return True
    if spelled in _FALSE:
        return False
    return None


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


def parse_size(raw: str, default: int) -> "int | None":
    """``"1000"``, ``"64M"``, ``"1.5G"`` (``KiB``/``MB`` spellings too) as bytes; ``default``
    for an empty value; None for anything else (negative, infinite, not a number)."""
    text = _spelling(raw)
    for suffix in ("ib", "b"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    if not text:
        return default
    factor = _UNITS.get(text[-1], 1)
    if factor != 1:
        text = text[:-1]
    try:
        size = float(text) * factor
    except ValueError:  # also for text float() cannot encode
        return None
    if not 0 <= size < float("inf"):  # nan, negative or infinite
        return None
    return int(size)


# The process-wide configuration, read on first use; tests in the same process may
# call ``reload()`` after changing the environment.
_current: "Config | None" = None


def current() -> "Config":
    """Return the configuration of this process, reading the environment on first use."""
    global _current
    if _current is None:
        _current = _read_failing_open()
    return _current


def reload() -> "Config":
    """Read the environment again (for tests and for ``spawnfix doctor``)."""
    global _current
    _current = _read_failing_open()
    return _current


def _read_failing_open() -> "Config":
    try:
        return parse(os.environ)
    except Exception:  # fail open: the defaults, never an error at the program's import
        return Config(ON, False, None, True)
