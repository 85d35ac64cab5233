"""Child: the program's own modules the parent had imported run their top level without
effects, as the main script's re-run does.

Under ``fork`` a child has every module the parent imported, in the state the parent's
import left: a user module that opens ``run.log`` with ``"w"``, prints a banner or registers
itself somewhere did so once, in the parent. A spawn or forkserver child imports the module
again, and its top level truncates the parent's log and prints again. A child that gets the
parent's values (``spawnfix.parent_values``, which names the user modules the parent had
imported) executes those modules the way the main script is re-run (``spawnfix.rerun``):
statement by statement, output muted on the importing thread, changes to the world refused
(``spawnfix.effect_guard``; a file opened for writing is kept and silent,
``spawnfix.rerun_files``), a statement that raises skipped; then the module gets the
parent's values. Imports inside the module run as usual (a library's state is the child's
own, as under fork); a user module among them comes here in turn.

A fork server that preloads the program's own modules for such children
(``spawnfix.forkserver_preload``) imports them the same way (``importing_users_modules_quietly``).

Limits: a module without source (``.pyc`` only) is executed as usual; one executed here
does not use its bytecode cache (each statement is compiled on its own).
"""

import sys
from contextlib import contextmanager

from spawnfix.diagnostics import log_decision
from spawnfix.user_modules import is_installed

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Callable, Optional


def exec_without_effects(module: "Any", loader: "Any", execute: "Callable[[Any], None]") -> None:
    """Execute ``module``'s code from its source without effects; ``execute(module)`` (the
    loader's own) where it has no source to read."""
    import _ast

    from spawnfix.effect_guard import quiet_rerun
    from spawnfix.rerun import run_statements

    name = module.__name__
    path = getattr(module, "__file__", None)
    try:
        source = loader.get_source(name)  # decoded as its coding declaration says
        tree = None
        if isinstance(path, str) and isinstance(source, str):
            tree = compile(source, path, "exec", _ast.PyCF_ONLY_AST, dont_inherit=True)
    except Exception:
        tree = None
    if tree is None:
        execute(module)
        return
    with quiet_rerun(main=False):
        text = source.encode("utf-8", "replace")  # for the lines named in messages
        run_statements(tree.body, path, vars(module), text, importing=True)
    log_decision("%s imported without effects: the parent's import had them", name)


@contextmanager
def importing_users_modules_quietly(active: bool = True) -> "Iterator[None]":
    """While it lasts, every module of the program's own that is imported runs without
    effects (a meta path finder wraps its loader); nothing when ``active`` is false."""
    if not active:
        yield
        return
    finder = _QuietFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


class _QuietFinder:
    """Meta path finder: the program's own modules execute without effects."""

    def __init__(self) -> None:
        # Names being looked up through the other finders: one of them (spawnfix's
        # post-import finder) asks the others in turn, this one among them.
        self._finding: set[str] = set()

    def find_spec(self, fullname: str, path: "Any" = None, target: "Any" = None) -> "Any":
        """Find ``fullname`` with the other finders; wrap its loader if it is the user's."""
        if fullname in self._finding or fullname.partition(".")[0] == "spawnfix":
            return None  # spawnfix itself (a checkout on sys.path) is never the program's
        self._finding.add(fullname)
        try:
            spec = spec_from_other_finders(self, fullname, path, target)
        finally:
            self._finding.discard(fullname)
        origin = getattr(spec, "origin", None)
        if isinstance(origin, str) and origin.endswith(".py") and not is_installed(origin):
            execute_without_effects(spec)
        return spec


def spec_from_other_finders(finder: "Any", fullname: str, path: "Any", target: "Any") -> "Any":
    """The spec the meta path finders after (and before) ``finder`` give, or None."""
    for other in sys.meta_path:
        if other is finder or not hasattr(other, "find_spec"):
            continue
        spec = other.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def execute_without_effects(spec: "Any", then: "Optional[Callable[[Any], None]]" = None) -> bool:
    """Make ``spec``'s loader execute the module without effects, then call
    ``then(module)``; False where the loader takes no wrapper (executed as usual)."""
    loader = getattr(spec, "loader", None)
    if loader is None or not hasattr(loader, "exec_module"):
        return False
    original = loader.exec_module

    def exec_module(module: "Any") -> None:
        vars(loader).pop("exec_module", None)  # the instance attribute set below
        exec_without_effects(module, loader, original)
        if then is not None:
            then(module)

    try:
        loader.exec_module = exec_module
    except AttributeError:  # a loader without instance attributes
        return False
    return True
