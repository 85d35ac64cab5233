"""Inside a re-run's refused statements a put into a multiprocessing queue or a change
through a manager proxy is refused (issue 29, finding 13): ``spawnfix.shared_writes`` with
real queues and a real manager."""

from __future__ import annotations

import multiprocessing
import multiprocessing.managers
import multiprocessing.queues

import pytest

from spawnfix import shared_writes


class Refused(PermissionError):
    pass


@pytest.fixture
def refusing():
    state = {"on": True}
    shared_writes.refuse_while(lambda: state["on"], Refused)
    yield state
    shared_writes.restore()


def test_a_queue_put_is_refused_while_refusing(refusing):
    queue = multiprocessing.get_context("spawn").Queue()
    with pytest.raises(Refused, match="put into a Queue"):
        queue.put(1)
    with pytest.raises(Refused):
        queue.put_nowait(1)
    refusing["on"] = False
    queue.put(2)
    assert queue.get(timeout=10) == 2
    queue.close()
    queue.join_thread()


def test_proxy_changes_are_refused_and_reads_are_not(refusing):
    with multiprocessing.get_context("spawn").Manager() as manager:
        shared = manager.dict({"seen": 1})
        listed = manager.list()
        with pytest.raises(Refused, match="__setitem__ through a manager proxy"):
            shared["x"] = 1
        with pytest.raises(Refused, match="append"):
            listed.append(1)
        assert shared.get("seen") == 1
        assert len(listed) == 0


def test_restore_gives_the_originals_back():
    original_put = multiprocessing.queues.Queue.put
    original_call = multiprocessing.managers.BaseProxy._callmethod
    shared_writes.refuse_while(lambda: True, Refused)
    assert multiprocessing.queues.Queue.put is not original_put
    shared_writes.restore()
    assert multiprocessing.queues.Queue.put is original_put
    assert multiprocessing.managers.BaseProxy._callmethod is original_call
