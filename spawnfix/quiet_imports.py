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

Limits: a module without source (``.pyc`` only) is executed as usual; one executed here
does not use its bytecode cache (each statement is compiled on its own).
"""

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable


def exec_without_effects(module: "Any", loader: "Any", execute: "Callable[[Any], None]") -> None:
    """Execute ``module``'s code from its source without effects; ``execute(module)`` (the
    loader's own) where it has no source to read."""
    import _ast

    from spawnfix.effect_guard import quiet_rerun, refusing_effects
    from spawnfix.main_script import future_flags, is_bare_string, parse_module

    name = module.__name__
    path = getattr(module, "__file__", None)
    try:
        source = loader.get_source(name)
        tree = parse_module(source.encode("utf-8"), path) if isinstance(path, str) else None
    except Exception:
        tree = None
    if tree is None:
        execute(module)
        return
    namespace = vars(module)
    flags = future_flags(tree.body)
    with quiet_rerun(main=False):
        for position, node in enumerate(tree.body):
            if position and is_bare_string(node):
                continue  # alone in a module it would become the docstring
            code = compile(
                _ast.Module(body=[node], type_ignores=[]), path, "exec", flags, dont_inherit=True
            )
            try:
                if isinstance(node, (_ast.Import, _ast.ImportFrom)):
                    exec(code, namespace)
                else:
                    with refusing_effects():
                        exec(code, namespace)
            except Exception as error:
                log_decision(
                    "import of %s in the child: skipped the statement at line %d, "
                    "which raised %s: %s",
                    name,
                    node.lineno,
                    type(error).__name__,
                    error,
                )
    log_decision("%s imported without effects: the parent's import had them", name)
