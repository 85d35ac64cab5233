"""What spawnfix tells the user: decisions on the ``spawnfix`` logger, warnings once.

With ``SPAWNFIX_DEBUG=1`` every decision is written to stderr, prefixed with the process
id so that parent and children can be told apart. Without it, decisions still go to the
``spawnfix`` logger at DEBUG level, but only if the program has imported ``logging``
itself: spawnfix never imports ``logging`` just to stay quiet.
"""

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any


LOGGER_NAME = "spawnfix"
DEBUG_VARIABLE = "SPAWNFIX_DEBUG"  # spawnfix.config's name for it, without importing it

# Set once the stderr handler for SPAWNFIX_DEBUG has been attached in this process.
_debug_handler_installed = False

# Topics already warned about in this process: each warning is given once, not per launch.
_warned_topics: "set" = set()


def log_decision(message: str, *args: "Any") -> None:
    """Record one decision (``message % args``) on the ``spawnfix`` logger; never raises,
    since fail-open handlers call it."""
    try:
        if _debugging():
            _install_debug_handler()
        elif "logging" not in sys.modules:
            return
        import logging

        logging.getLogger(LOGGER_NAME).debug(message, *args)
    except Exception:
        pass


def _debugging() -> bool:
    # Every worker logs its decisions: one whose environment has no SPAWNFIX_DEBUG (and
    # has not read its configuration yet) need not import and parse spawnfix.config.
    config = sys.modules.get("spawnfix.config")
    if config is None:
        if DEBUG_VARIABLE not in os.environ:
            return False
        from spawnfix import config
    settings = config.current()
    if settings.debug and settings is not _reported_settings:
        _report_ignored(settings)
    return bool(settings.debug)


# The configuration whose values not understood were logged (``_report_ignored``).
_reported_settings: "Any" = None


def _report_ignored(settings: "Any") -> None:
    # Before the first decision logged under SPAWNFIX_DEBUG (and again after a reload):
    # each setting spawnfix did not understand, and that it kept its default.
    global _reported_settings
    _reported_settings = settings
    if not settings.ignored:
        return
    from spawnfix import messages

    for name, raw in settings.ignored:
        log_decision("%s", messages.setting_not_understood(name, raw))


def _install_debug_handler() -> None:
    global _debug_handler_installed
    if _debug_handler_installed:
        return
    import logging

    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("spawnfix[%(process)d]: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    _debug_handler_installed = True


def warn_once(topic: str, text: str, path: str, line: int) -> None:
    """Emit ``UnguardedMainWarning`` at ``path:line``, once per process for ``topic``."""
    if topic in _warned_topics:
        return
    _warned_topics.add(topic)
    import warnings

    from spawnfix.errors import UnguardedMainWarning

    warnings.warn_explicit(text, UnguardedMainWarning, path, line, module="__main__")
