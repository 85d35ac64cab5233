"""Which modules are the program's own: imported from outside the standard library and
the environment's site-packages (the script's folder, a local package, ``PYTHONPATH``).

Their globals are what a fork child would share with the parent (``spawnfix.parent_values``),
and their top-level code is the program's: it ran in the parent, so a fork server does not
preload them (``spawnfix.forkserver_preload``) and a child that gets the parent's values
imports them without effects (``spawnfix.quiet_imports``). Decided by file path alone, so a
user's package installed into site-packages (``pip install -e`` aside) counts as a library.
"""

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

MAIN_NAMES = ("__main__", "__mp_main__")


def users_own_modules(excluded_packages: "tuple[str, ...]" = ()) -> "dict[str, Any]":
    """Name -> module of every imported module that is the program's own (but the main
    module and the top-level packages ``excluded_packages``)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name in MAIN_NAMES or name.partition(".")[0] in excluded_packages:
            continue
        if is_users_own(name, module):
            found[name] = module
    return found


# Module name -> whether it is one of the user's own modules; decided once per module.
_decided: "dict[str, bool]" = {}


def is_users_own(name: str, module: "Any") -> bool:
    """Whether the imported ``module`` is the program's own (a ``.py`` file not installed)."""
    known = _decided.get(name)
    if known is None:
        path = getattr(module, "__file__", None)
        known = isinstance(path, str) and path.endswith(".py") and not is_installed(path)
        _decided[name] = known
    return known


def is_users_own_before_import(name: str) -> bool:
    """Whether the top-level package or module of ``name`` would be imported from the
    program's own files (found without importing anything; False where it is not found)."""
    import importlib.util

    top = name.partition(".")[0]
    if top in sys.modules:
        return is_users_own(top, sys.modules[top])
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None)
    locations = list(getattr(spec, "submodule_search_locations", None) or ())
    if isinstance(origin, str) and origin.endswith(".py"):
        return not is_installed(origin)
    # A namespace package: the program's own if any of its folders is.
    return any(isinstance(folder, str) and not is_installed(folder) for folder in locations)


_installed_roots: "Optional[tuple[str, ...]]" = None


def is_installed(path: str) -> bool:
    """Whether ``path`` is in the standard library or a site-packages directory."""
    global _installed_roots
    if _installed_roots is None:
        # The prefixes hold the standard library and the environment's site-packages;
        # site-packages directories elsewhere (the user's) are on sys.path. sysconfig
        # would name the same places and costs a millisecond to import.
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        roots.add(os.path.dirname(os.__file__))
        for directory in sys.path:
            if os.path.basename(directory) in ("site-packages", "dist-packages"):
                roots.add(directory)
        spelled = {os.path.join(os.path.normpath(root), "") for root in roots if root}
        resolved = {os.path.join(os.path.realpath(root), "") for root in roots if root}
        _installed_roots = tuple(spelled | resolved)
    # Most module paths are spelled under a root already: realpath (an lstat for each
    # part of the path) only for the others, the user's own modules among them.
    if os.path.normpath(path).startswith(_installed_roots):
        return True
    return os.path.realpath(path).startswith(_installed_roots)
