"""Garbage in any ``SPAWNFIX*`` variable leaves that setting at its default (issue 30)."""

from __future__ import annotations

import logging
import os

import pytest

import spawnfix
from spawnfix import config, diagnostics, forkserver_preload, messages

# Values no SPAWNFIX* variable understands.
GARBAGE = [
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "-nan",
    "1e999",
    "-1e999",
    "-5",
    "-0.5k",
    "9" * 400,
    "1e308G",
    "12Q",
    "0x10",
    "1,5M",
    "M",
    "GiB",
    "k1",
    "ünïcødé",
    "١٢Ж",
    "\u2603\ufe0f",
    "\udcff\udcfe",  # bytes that are not UTF-8, as os.environ decodes them
    "\x01\x02\x7f\x1b[31m",
    "--",
    "yes please",
]
# Values that mean "unset": the default, not reported.
BLANK = ["", " ", "\t", "\n  \r\n"]
SWITCHES = {
    config.DEBUG_VARIABLE: ("debug", False),
    config.PRELOAD_VARIABLE: ("preload", True),
    config.VALUES_VARIABLE: ("values", True),
    config.WARM_VARIABLE: ("warm", True),
}


@pytest.fixture(autouse=True)
def fresh_configuration(monkeypatch):
    """Each test reads its own environment; the process's configuration is restored."""
    for name in list(os.environ):
        if name.startswith("SPAWNFIX"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config, "_current", None)


@pytest.fixture
def spawnfix_log(monkeypatch, caplog):
    """The records the ``spawnfix`` logger writes (its stderr handler not installed)."""
    monkeypatch.setattr(diagnostics, "_debug_handler_installed", True)
    logger = logging.getLogger(diagnostics.LOGGER_NAME)
    monkeypatch.setattr(logger, "level", logging.DEBUG)
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    yield caplog
    logger.removeHandler(caplog.handler)


def defaults() -> config.Config:
    return config.parse({})


@pytest.mark.parametrize("value", [*GARBAGE, "2", "1.0", "y", "n"])
@pytest.mark.parametrize("variable", sorted(SWITCHES))
def test_garbage_switch_keeps_its_default(variable, value):
    attribute, default = SWITCHES[variable]
    settings = config.parse({variable: value})
    assert getattr(settings, attribute) is default
    assert settings.ignored == ((variable, value),)
    assert config.parse_switch(value, default) is None


@pytest.mark.parametrize("value", BLANK)
@pytest.mark.parametrize("variable", sorted(SWITCHES))
def test_blank_switch_is_its_default_silently(variable, value):
    attribute, default = SWITCHES[variable]
    settings = config.parse({variable: value})
    assert getattr(settings, attribute) is default
    assert settings.ignored == ()


@pytest.mark.parametrize("value", ["1", "on", " TRUE ", "Yes", "0", "off", "False\n", "NO"])
@pytest.mark.parametrize("variable", sorted(SWITCHES))
def test_switch_spellings(variable, value):
    attribute, _ = SWITCHES[variable]
    expected = value.strip().lower() in ("1", "on", "true", "yes")
    settings = config.parse({variable: value})
    assert getattr(settings, attribute) is expected
    assert settings.ignored == ()


@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_value_limit_keeps_the_default(value):
    settings = config.parse({config.VALUE_LIMIT_VARIABLE: value})
    assert settings.value_limit == config.DEFAULT_VALUE_LIMIT
    assert settings.ignored == ((config.VALUE_LIMIT_VARIABLE, value),)
    assert config.parse_size(value, 7) is None


@pytest.mark.parametrize("value", BLANK)
def test_blank_value_limit_is_the_default_silently(value):
    settings = config.parse({config.VALUE_LIMIT_VARIABLE: value})
    assert settings.value_limit == config.DEFAULT_VALUE_LIMIT
    assert settings.ignored == ()


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("0", 0),
        ("1000", 1000),
        (" 1000 ", 1000),
        ("64M", 64 * 2**20),
        ("64mb", 64 * 2**20),
        ("1.5G", 3 * 2**29),
        ("1.5GiB", 3 * 2**29),
        ("2k", 2048),
        ("2KiB", 2048),
        ("100b", 100),
        ("1e3", 1000),
        ("1e300", int(1e300)),  # huge: no practical limit, but a number
    ],
)
def test_value_limit_spellings(value, size):
    assert config.parse_size(value, 7) == size
    assert config.parse({config.VALUE_LIMIT_VARIABLE: value}).value_limit == size


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("", config.DEFAULT_SHARE_ABOVE),
        ("on", config.DEFAULT_SHARE_ABOVE),
        ("Yes", config.DEFAULT_SHARE_ABOVE),
        ("0", 0),
        ("off", 0),
        (" NO ", 0),
        ("4M", 4 * 2**20),
        ("100k", 100 * 2**10),
        ("1", 1),
    ],
)
def test_share_above_spellings(value, size):
    settings = config.parse({config.SHARE_ABOVE_VARIABLE: value})
    assert (settings.share_above, settings.ignored) == (size, ())


@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_share_above_keeps_the_default(value):
    settings = config.parse({config.SHARE_ABOVE_VARIABLE: value})
    assert settings.share_above == config.DEFAULT_SHARE_ABOVE
    assert settings.ignored == ((config.SHARE_ABOVE_VARIABLE, value),)


@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_mode_is_on_and_not_understood(value):
    settings = config.parse({config.MODE_VARIABLE: value})
    assert settings.mode == config.ON
    assert not settings.understood
    assert settings.raw_mode == value
    assert "is not understood" in messages.unknown_mode(value)


@pytest.mark.parametrize("value", BLANK)
def test_blank_mode_is_on(value):
    settings = config.parse({config.MODE_VARIABLE: value})
    assert (settings.mode, settings.understood) == (config.ON, True)


@pytest.mark.parametrize("value", GARBAGE + BLANK)
def test_garbage_everywhere_at_once(value):
    variables = [
        config.MODE_VARIABLE,
        config.VALUE_LIMIT_VARIABLE,
        config.SHARE_ABOVE_VARIABLE,
        *SWITCHES,
    ]
    settings = config.parse(dict.fromkeys(variables, value))
    expected = defaults()
    for attribute in ("mode", "debug", "preload", "values", "value_limit", "warm", "share_above"):
        assert getattr(settings, attribute) == getattr(expected, attribute), attribute


def test_current_never_raises_and_falls_back_to_defaults(monkeypatch):
    def broken(environ):
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(config, "parse", broken)
    settings = config.current()
    assert (settings.mode, settings.value_limit) == (config.ON, config.DEFAULT_VALUE_LIMIT)
    assert config.reload().active


def test_ignored_values_are_logged_once_under_debug(monkeypatch, spawnfix_log):
    """Before the first decision logged, once per configuration read."""
    monkeypatch.setenv(config.DEBUG_VARIABLE, "1")
    monkeypatch.setenv(config.VALUE_LIMIT_VARIABLE, "inf")
    monkeypatch.setenv(config.WARM_VARIABLE, "maybe")
    config.current()
    config.current()
    diagnostics.log_decision("first decision")
    diagnostics.log_decision("second decision")
    logged = [record.getMessage() for record in spawnfix_log.records]
    assert logged == [
        messages.setting_not_understood(config.WARM_VARIABLE, "maybe"),
        messages.setting_not_understood(config.VALUE_LIMIT_VARIABLE, "inf"),
        "first decision",
        "second decision",
    ]


def test_garbage_debug_is_off(monkeypatch):
    monkeypatch.setenv(config.DEBUG_VARIABLE, "inf")
    assert not config.current().debug
    assert not diagnostics._debugging()


def test_log_decision_never_raises(monkeypatch):
    def broken():
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(config, "current", broken)
    diagnostics.log_decision("a decision: %r", 1)


def test_failing_hook_handler_never_raises(monkeypatch):
    """The post-import handler logs, and logging reads the configuration: neither escapes."""

    def broken(*args):
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(config, "current", broken)
    monkeypatch.setattr(diagnostics, "log_decision", broken)
    spawnfix._run_failing_open(broken, object())


@pytest.mark.parametrize("value", GARBAGE + BLANK + ["x;x", "module:", "script", ":"])
def test_garbled_fork_server_settings_preload_nothing(value):
    prefix = forkserver_preload.SETTING_PREFIX
    for entries in ([value], [prefix + value], ["numpy", value]):
        assert forkserver_preload.decode_settings(entries) == ([], None), entries


def test_fork_server_settings_round_trip():
    modules, main_path = ["numpy", "spawnfix.rerun"], "/w/a b;ü,x/train.py"
    encoded = forkserver_preload.encode_settings(modules, main_path)
    assert forkserver_preload.decode_settings(encoded) == (modules, main_path)
    assert forkserver_preload.decode_settings(encoded[:-1]) == (modules, None)
