"""What a warm fork server's children would inherit, and which changes count (issue 30):
``spawnfix.process_state`` tested in-process."""

from __future__ import annotations

import json  # noqa: F401  (imported: the module the fixture's folder shadows)
import os
import signal
import sys
import time

import pytest

from spawnfix import process_state


def test_nothing_changed():
    assert process_state.first_change(process_state.capture(), process_state.capture()) is None


def test_umask_change_is_seen_and_read_without_setting_it():
    before = process_state.capture()
    old = os.umask(0o077)
    try:
        after = process_state.capture()
    finally:
        os.umask(old)
    assert before["umask"] == old and after["umask"] == 0o077
    assert process_state.first_change(before, after) == "umask"


def test_ignored_signal_is_a_change_a_python_handler_is_not():
    before = process_state.capture()
    handler = signal.signal(signal.SIGUSR2, lambda *_: None)
    try:
        assert process_state.first_change(before, process_state.capture()) is None
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        assert process_state.first_change(before, process_state.capture()) == "ignored signals"
    finally:
        signal.signal(signal.SIGUSR2, handler)


def test_blocked_signal_is_a_change():
    before = process_state.capture()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    try:
        assert process_state.first_change(before, process_state.capture()) == "signal mask"
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR2])


def test_environment_change_but_spawnfix_own_markers(monkeypatch):
    before = process_state.capture()
    monkeypatch.setenv("SPAWNFIX_SOMETHING_REPORTED", "1")
    assert process_state.first_change(before, process_state.capture()) is None
    monkeypatch.setenv("OMP_NUM_THREADS_FOR_A_TEST", "1")
    assert process_state.first_change(before, process_state.capture()) == "environment"


def test_working_directory_change(monkeypatch, tmp_path):
    before = process_state.capture()
    monkeypatch.chdir(tmp_path)
    assert process_state.first_change(before, process_state.capture()) == "working directory"


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Two path entries: one offering a module this process has imported, one not."""
    shadowing, harmless = tmp_path / "shadowing", tmp_path / "harmless"
    shadowing.mkdir()
    harmless.mkdir()
    (shadowing / "json.py").write_text("")
    (harmless / "not_imported_by_anyone_xyz.py").write_text("")
    monkeypatch.setattr(sys, "path", ["/stdlib", "/site"])
    return str(shadowing), str(harmless)


@pytest.mark.parametrize(
    "after, matters",
    [
        (["/stdlib", "/site"], False),
        (["/stdlib", "/site", "SHADOWING"], False),  # appended: found later than the others
        (["HARMLESS", "/stdlib", "/site"], False),  # offers nothing imported
        (["SHADOWING", "/stdlib", "/site"], True),  # json.py before the standard library
        (["/stdlib", "SHADOWING", "/site"], True),
        (["/site", "/stdlib"], True),  # moved
        (["/stdlib"], True),  # removed
        (["/stdlib", "/stdlib", "/site"], False),  # a repeated entry is never searched again
        (["/nonexistent", "/stdlib", "/site"], False),
    ],
)
def test_sys_path_change_matters_where_an_import_could_find_another_file(folders, after, matters):
    shadowing, harmless = folders
    after = [{"SHADOWING": shadowing, "HARMLESS": harmless}.get(e, e) for e in after]
    assert process_state.sys_path_change_matters(["/stdlib", "/site"], after) is matters


def test_a_path_entry_that_is_a_file_may_offer_anything(tmp_path):
    archive = tmp_path / "vendored.zip"
    archive.write_bytes(b"")
    assert process_state.sys_path_change_matters(["/a"], [str(archive), "/a"])


def test_capture_and_check_are_cheap():
    """Recorded once at the warm start and compared once at the first launch: well under
    a millisecond each (about 40 and 50 µs on the development machine)."""
    before = process_state.capture()
    started = time.perf_counter()
    for _ in range(100):
        process_state.first_change(before, process_state.capture())
    assert (time.perf_counter() - started) / 100 < 0.001


def test_lowered_limit_is_a_change():
    resource = pytest.importorskip("resource")
    before = process_state.capture()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
    try:
        assert process_state.first_change(before, process_state.capture()) == "resource limits"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
