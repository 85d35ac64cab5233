"""spawnfix without installing into site-packages: put this folder first on PYTHONPATH.

``spawnfix run`` does that for you. This module activates spawnfix, then imports the next
``sitecustomize`` on ``sys.path`` (a user's, a distribution's, or another tool's), so that
one still runs, exactly once, as if this stub were not there.

When spawnfix itself is not importable from the interpreter (``spawnfix run`` starting
another Python), ``SPAWNFIX_PACKAGE_DIR`` names the folder that holds the ``spawnfix``
package; only that package is loaded from there, not its neighbours.
"""

import os
import sys


def _activate_spawnfix():
    try:
        try:
            import spawnfix
        except ImportError:
            package_parent = os.environ.get("SPAWNFIX_PACKAGE_DIR")
            if not package_parent:
                return
            import importlib.util

            init = os.path.join(package_parent, "spawnfix", "__init__.py")
            spec = importlib.util.spec_from_file_location(
                "spawnfix", init, submodule_search_locations=[os.path.dirname(init)]
            )
            spawnfix = importlib.util.module_from_spec(spec)
            sys.modules["spawnfix"] = spawnfix
            spec.loader.exec_module(spawnfix)
        spawnfix.activate()
    except Exception:  # fail open: never stop the interpreter from starting
        pass


def _run_next_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    this_module = sys.modules.pop("sitecustomize", None)
    # Remove only this folder, and put it back where it was, so that whatever the next
    # sitecustomize does to sys.path is kept.
    positions = [i for i, p in enumerate(sys.path) if os.path.abspath(p or os.curdir) == here]
    for index in reversed(positions):
        del sys.path[index]
    try:
        import sitecustomize  # noqa: F401  (the next one on sys.path, if any)
    except ImportError as error:
        if error.name != "sitecustomize":
            raise
    finally:
        for index in positions:
            sys.path.insert(index, here)
        if "sitecustomize" not in sys.modules and this_module is not None:
            sys.modules["sitecustomize"] = this_module


_activate_spawnfix()
_run_next_sitecustomize()
