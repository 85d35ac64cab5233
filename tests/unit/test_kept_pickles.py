"""A large ``bytes`` or ``str`` global is pickled once while a global is bound to it
(issue 30, finding 11): ``spawnfix.parent_values._pickle_all`` tested in-process."""

from __future__ import annotations

import os
import pickle

import pytest

from spawnfix import parent_values
from spawnfix.global_references import MAIN

LIMIT = 2**24
BIG = ("main",)


@pytest.fixture
def dumps_calls(monkeypatch):
    calls = []
    real = parent_values._dumps

    def counting(value, *args, **kwargs):
        calls.append(type(value).__name__)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(parent_values, "_dumps", counting)
    monkeypatch.setattr(parent_values, "_kept_pickles", {})
    return calls


def _sent(values):
    pickled, _ = parent_values._pickle_all(values, LIMIT, {})
    return {reference: pickle.loads(data) for reference, (data, _, _) in pickled.items()}


def test_same_large_bytes_object_is_pickled_once(dumps_calls):
    reference = (MAIN, "BIG")
    value = os.urandom(200_000)
    assert _sent({reference: value}) == {reference: value}
    assert _sent({reference: value}) == {reference: value}
    assert dumps_calls == ["bytes"]


def test_a_rebound_global_is_pickled_again(dumps_calls):
    reference = (MAIN, "TEXT")
    first = "x" * 100_000
    second = first + "y"
    assert _sent({reference: first}) == {reference: first}
    assert _sent({reference: second}) == {reference: second}
    assert dumps_calls == ["str", "str"]


@pytest.mark.parametrize("make", [bytearray, list, lambda data: [bytes(data)]], ids=repr)
def test_mutable_values_are_pickled_at_every_start(dumps_calls, make):
    """A value that can change in place is pickled again: the child gets it as it is now."""
    reference = (MAIN, "TABLE")
    value = make(os.urandom(100_000))
    _sent({reference: value})
    if isinstance(value, bytearray):
        value[0] ^= 0xFF
    else:
        value.append(b"more")
    assert _sent({reference: value}) == {reference: value}
    assert len(dumps_calls) == 2


def test_small_values_are_not_kept(dumps_calls):
    reference = (MAIN, "NAME")
    value = b"small" * 10
    _sent({reference: value})
    _sent({reference: value})
    assert dumps_calls == ["bytes", "bytes"]
    assert parent_values._kept_pickles == {}
