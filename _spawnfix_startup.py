"""spawnfix's startup hook: ``spawnfix.pth`` runs ``watch_imports()`` in every interpreter.

It imports nothing. It puts this module first on ``sys.meta_path``, where ``find_spec``
sees the name of every module imported from then on and answers None at once for all but
the modules spawnfix acts on (``WATCHED``). The first of those imports spawnfix, which
activates itself and takes this finder out, and that import goes on with spawnfix's hooks.
A process that imports none of them never imports spawnfix. Reading this module's bytecode
costs about what any one-module hook costs; the same finder written into the ``.pth`` line
would cost more, since ``site`` compiles that line at every start
(``bench/startup_overhead.py``).

Fail-open: a spawnfix package that is missing or fails to import is tried once; the
program's imports go on as if spawnfix were not installed.

Not covered: a watched module found by a finder placed before this one (inserted at the
front of ``sys.meta_path`` after this ran) is not seen; spawnfix then starts at the next
watched import, if any.
"""

import sys

# The modules whose import starts spawnfix: the modules of spawnfix's hook table, by the
# first name an import of each asks for (tests/unit/test_startup_watch.py checks that they
# agree). concurrent.futures.process imports multiprocessing midway, too late for its own
# hook, so it is named itself. Emptied when spawnfix cannot be imported: tried once.
WATCHED = {
    "multiprocessing",
    "multiprocess",
    "billiard",
    "concurrent.futures.process",
    "torch",
    "cloudpickle",
    "wandb",
}

# The .pth (or PEP 829 .start) file whose line called watch_imports(), for `spawnfix doctor`.
started_by = None
# warnings.filters as the interpreter set them up, taken before the program can change them
# (-W options are applied before site runs): children get only the program's own changes.
warning_filters = None


def watch_imports():
    """Start watching imports; a second call does nothing (virtual environments run
    ``.pth`` lines twice before Python 3.15)."""
    global started_by, warning_filters
    this = sys.modules[__name__]
    if this in sys.meta_path:
        return
    # site runs a .pth line with exec() among its locals, ``fullname`` the file's path
    # (3.8-3.15), and calls a .start entry point where ``filename`` is (3.15+, PEP 829).
    site_names = sys._getframe(1).f_locals
    started_by = site_names.get("fullname") or site_names.get("filename")
    warning_filters = tuple(getattr(sys.modules.get("_warnings"), "filters", ()))
    sys.meta_path.insert(0, this)
    if "spawnfix" in sys.modules or not WATCHED.isdisjoint(sys.modules):
        _start_spawnfix()  # imported already, by an earlier .pth line


def find_spec(name, path=None, target=None):
    """None, unless ``name`` is watched: then start spawnfix and let it answer (this finder
    has left sys.meta_path by then, so spawnfix answers with what the others find)."""
    if name not in WATCHED:
        return None
    spawnfix = _start_spawnfix()
    return spawnfix and spawnfix.find_watched_spec(name, path, target)


def _start_spawnfix():
    # The package installed beside this module: by now the program's folder (the current
    # one, for -c) leads sys.path, and a spawnfix.py or spawnfix/ there is not it.
    import os

    here = os.path.dirname(__file__)
    sys.path.insert(0, here)
    try:
        import spawnfix

        spawnfix.start_from_watcher(sys.modules[__name__])
        spawnfix.find_watched_spec  # noqa: B018  (a spawnfix without it is not started)
    except Exception:
        WATCHED.clear()
        return None
    finally:
        for index, entry in enumerate(sys.path):
            if entry is here:  # this entry, not the equal one site added
                del sys.path[index]
                break
    return spawnfix
