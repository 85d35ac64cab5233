"""The warm fork server's check stands in for ``ensure_running`` until the first launch,
then puts the fork server's own back (spawnfix.warm_forkserver, in-process, on a stand-in
fork server that started nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import types

import pytest

from spawnfix import process_state, warm_forkserver


class StandInForkServer:
    """The attributes of multiprocessing.forkserver.ForkServer that the check reads."""

    def __init__(self) -> None:
        self._forkserver_pid = None
        self._forkserver_alive_fd = None
        self._forkserver_address = None
        self._lock = threading.Lock()
        self.calls = 0

    def ensure_running(self) -> None:
        self.calls += 1


@pytest.fixture
def stand_in(monkeypatch):
    server = StandInForkServer()
    module = types.SimpleNamespace(ensure_running=server.ensure_running)
    monkeypatch.setattr(warm_forkserver, "_speculation", None)
    monkeypatch.setattr(warm_forkserver, "_fork_server_settings", lambda server: {})
    return server, module


def test_first_call_checks_then_the_original_is_back(stand_in):
    server, module = stand_in
    server._forkserver_pid = 2**22 + 1  # running, as far as the check knows; kept
    warm_forkserver._await_first_launch(module, server, process_state.capture())
    assert "ensure_running" in vars(server)
    assert module.ensure_running is server.ensure_running
    module.ensure_running()
    assert server.calls == 1
    assert "ensure_running" not in vars(server)  # the class's method again
    assert module.ensure_running == server.ensure_running
    assert warm_forkserver._speculation is None
    assert server._forkserver_pid == 2**22 + 1
    server.ensure_running()
    assert server.calls == 2


def test_a_change_detaches_and_reaps_the_warm_fork_server(stand_in):
    """The stand-in's fork server is a child that exits at the end of its pipe: the first
    call closes the pipe, forgets the fork server and waits for it, then starts one."""
    server, module = stand_in
    alive_r, alive_w = os.pipe()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=alive_r)
    os.close(alive_r)
    server._forkserver_pid, server._forkserver_alive_fd = child.pid, alive_w
    state = dict(process_state.capture(), umask=-1)
    warm_forkserver._await_first_launch(module, server, state)
    module.ensure_running()
    assert server.calls == 1
    assert (server._forkserver_pid, server._forkserver_alive_fd) == (None, None)
    with pytest.raises(OSError):
        os.fstat(alive_w)
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(child.pid, os.WNOHANG)
    child.returncode = 0  # reaped behind Popen's back


def test_stop_checking_twice_is_harmless(stand_in):
    server, module = stand_in
    warm_forkserver._await_first_launch(module, server, process_state.capture())
    warm_forkserver.stop_checking(module, server)
    warm_forkserver.stop_checking(module, server)
    assert "ensure_running" not in vars(server)
    module.ensure_running()
    assert server.calls == 1
