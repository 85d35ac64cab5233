"""spawnfix.private_api.Patches: replacements undone exactly; every mechanism's install
and uninstall are symmetric on the real standard library."""

from __future__ import annotations

import concurrent.futures.process
import multiprocessing
import multiprocessing.context
import multiprocessing.pool
import multiprocessing.reduction
import multiprocessing.spawn
import threading
import types

from spawnfix import by_value, mp_hooks, pool_watchdog, start_method_choice
from spawnfix.private_api import Patches


class Base:
    def inherited(self):
        return "base"


class Owner(Base):
    @staticmethod
    def static():
        return "static"

    @classmethod
    def klass(cls):
        return "class"


def test_replace_then_undo_restores_the_very_objects():
    module = types.ModuleType("example")
    module.function = lambda: "original"
    before = {name: vars(Owner)[name] for name in ("static", "klass")}
    function = module.function
    patches = Patches()
    assert not patches
    original = patches.replace(module, "function", lambda: "replaced")
    assert original is function and module.function() == "replaced"
    assert module.function.__wrapped__ is function
    assert (
        patches.replace(Owner, "static", staticmethod(lambda: "new")) is before["static"].__func__
    )
    assert (
        patches.replace(Owner, "klass", classmethod(lambda cls: "new")) is before["klass"].__func__
    )
    assert Owner.static() == "new" and Owner.klass() == "new"
    patches.replace(Owner, "inherited", lambda self: "replaced")
    assert Owner().inherited() == "replaced" and patches
    patches.undo()
    assert not patches
    assert module.function is function
    assert {name: vars(Owner)[name] for name in ("static", "klass")} == before
    assert "inherited" not in vars(Owner) and Owner().inherited() == "base"


def test_a_rebound_method_keeps_its_own_wrapped():
    class Context:
        def get(self):
            return "original"

    def named(self):
        return "named"

    named.__wrapped__ = Context.get
    context = Context()
    module = types.ModuleType("example")
    module.get = context.get
    patches = Patches()
    Context.get = named
    patches.replace(module, "get", context.get, wraps=False)
    assert module.get() == "named" and named.__wrapped__ is not named
    patches.undo()
    Context.get = named.__wrapped__
    assert module.get() == "original"


def _attributes() -> dict[tuple[str, str], object]:
    owners = {
        "spawn": multiprocessing.spawn,
        "Pool": multiprocessing.pool.Pool,
        "pool": multiprocessing.pool,
        "executor": concurrent.futures.process.ProcessPoolExecutor,
        "manager": concurrent.futures.process._ExecutorManagerThread,
        "pickler": multiprocessing.reduction.ForkingPickler,
        "reduction": multiprocessing.reduction,
        "Thread": threading.Thread,
        "BaseContext": multiprocessing.context.BaseContext,
        "DefaultContext": multiprocessing.context.DefaultContext,
        "multiprocessing": multiprocessing,
    }
    return {
        (label, name): value
        for label, owner in owners.items()
        for name, value in vars(owner).items()
    }


def test_every_mechanism_installs_and_uninstalls_symmetrically():
    """On the real multiprocessing of this interpreter: after install and uninstall each
    attribute of the modules and classes patched is the very object it was."""
    _uninstall_all()  # a clean start, whatever ran in this process before
    before = _attributes()
    mp_hooks.install(multiprocessing.spawn)
    pool_watchdog.install(multiprocessing.pool)
    pool_watchdog.install_executor(concurrent.futures.process)
    by_value.install(multiprocessing.reduction)
    start_method_choice.install(multiprocessing)
    try:
        changed = {key for key, value in _attributes().items() if before.get(key) is not value}
        assert {
            ("spawn", "get_preparation_data"),
            ("Pool", "__init__"),
            ("Pool", "_maintain_pool"),
            ("Pool", "_check_running"),
            ("pool", "worker"),
            ("executor", "__init__"),
            ("manager", "terminate_broken"),
            ("pickler", "dumps"),
            ("reduction", "dump"),
            ("Thread", "start"),
            ("DefaultContext", "get_context"),
            ("BaseContext", "get_context"),
            ("DefaultContext", "set_start_method"),
        } <= changed
        assert (
            multiprocessing.spawn.get_preparation_data.__wrapped__
            is before[("spawn", "get_preparation_data")]
        )
    finally:
        _uninstall_all()
    after = _attributes()
    assert {
        key for key in before.keys() | after.keys() if before.get(key) is not after.get(key)
    } == set()


def _uninstall_all() -> None:
    start_method_choice.uninstall()
    by_value.uninstall()
    pool_watchdog.uninstall_executor()
    pool_watchdog.uninstall()
    mp_hooks.uninstall()
