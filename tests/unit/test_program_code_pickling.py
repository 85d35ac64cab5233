"""Pickling the parent's values runs no code of the program's (issue 29, finding 7):
``spawnfix.program_code_pickling`` tested in-process (this test module is a user module:
a file outside the standard library and site-packages)."""

from __future__ import annotations

import collections
import copyreg
import dataclasses
import io
import pickle

import pytest

from spawnfix.program_code_pickling import ProgramSafePickler, RunsProgramCode, program_reduction


class PopsOnPickle:
    def __init__(self):
        self.cache = {"a": 1}

    def __getstate__(self):
        state = self.__dict__
        state.pop("cache", None)
        return state


class ReducesItself:
    def __reduce__(self):
        return (ReducesItself, ())


class InheritsTheReducer(ReducesItself):
    pass


class Plain:
    def __init__(self):
        self.items = [1, 2]


class RegisteredWithCopyreg:
    pass


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: int


def _dumps(value):
    buffer = io.BytesIO()
    ProgramSafePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        (PopsOnPickle, "PopsOnPickle.__getstate__"),
        (ReducesItself, "ReducesItself.__reduce__"),
        (InheritsTheReducer, "ReducesItself.__reduce__"),
        (Plain, None),
        (Frozen, None),
        (collections.OrderedDict, None),
        (int, None),
    ],
)
def test_the_programs_reduction_methods_are_named(kind, method):
    assert program_reduction(kind) == method


def test_a_value_holding_such_an_object_is_refused_and_left_whole():
    live = PopsOnPickle()
    with pytest.raises(RunsProgramCode, match=r"PopsOnPickle\.__getstate__"):
        _dumps({"model": [live]})
    assert live.cache == {"a": 1}


def test_a_copyreg_reducer_of_the_program_counts(monkeypatch):
    monkeypatch.setitem(copyreg.dispatch_table, RegisteredWithCopyreg, lambda obj: (object, ()))
    with pytest.raises(RunsProgramCode, match="copyreg"):
        _dumps(RegisteredWithCopyreg())


def test_plain_objects_pickle_as_usual():
    value = {"plain": Plain(), "frozen": Frozen(3), "ordered": collections.OrderedDict(a=1)}
    loaded = pickle.loads(_dumps(value))
    assert (loaded["plain"].items, loaded["frozen"], loaded["ordered"]) == (
        [1, 2],
        Frozen(3),
        collections.OrderedDict(a=1),
    )
