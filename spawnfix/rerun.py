"""Child: re-run the main script under control (step 5 of ``spawnfix.child_start``).

The parent sends a ``RerunPlan`` (``spawnfix.handoff``) in the child's hand-off. The
child's start calls ``take_over_main_fixup``, which takes over
``spawn._fixup_main_from_path`` / ``_fixup_main_from_name`` for the one call that
``spawn.prepare`` makes. Everything else ``prepare`` does (name, authkey, ``sys.path``,
``sys.argv``, working directory, start method) stays the standard library's. Children that
get no plan never import this module, so they pay nothing. The same applies to the
``multiprocess`` and ``billiard`` forks of multiprocessing: the plan names the package
whose ``spawn`` module prepares it.

``rerun_main_until`` then runs the main script as ``__mp_main__`` the way ``runpy`` would
(same ``__file__``, ``__spec__``, ``sys.argv[0]``, module registration, and tracebacks
that point at the real file and lines), one top-level statement at a time, except that:

- only the first ``statement_count`` statements run: a simple spawn site
  (``pool.map(f, xs)``) and everything after it never run; a compound site
  (``with Pool() as p:``) runs up to its first process start, and nothing after it runs;
  with the parent's values, a compound site that defines nothing (no function, class,
  lambda or import in it) is not entered at all: the names it binds come from the parent
  (a ``for`` loop over a ``DataLoader`` would otherwise build an iterator in every worker);
- a process start from any thread stops that thread quietly, and on the re-running
  thread it ends the re-run, keeping what is defined; a ``set_start_method()`` that would
  fail with "context has already been set" does nothing;
- a statement that raises an ``Exception`` (``os.mkdir`` of a folder the parent made, a
  port the parent holds) is skipped, and the re-run goes on with the next statement;
- a source file that changed since the parent read it runs in full, with the same rules.

Limits: a script that is not a ``.py`` source file (zip application, ``.pyc``) is re-run by
the standard library, with the same process-start and ``set_start_method`` rules, but a
failing statement still ends the child.
"""

import sys
from contextlib import contextmanager

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Optional

    from spawnfix.child_values import ChildValues

DEFAULT_PACKAGE = "multiprocessing"


class RerunPlan:
    """How far a child re-runs the main script (``spawnfix.rerun``).

    ``statement_count`` is how many top-level statements the child may run (None: all of
    them, stopping at the first process start). Only standard types travel: the child
    unpickles the plan before ``__main__`` exists.
    """

    __slots__ = ("digest", "package", "path", "site_line", "statement_count")

    def __init__(
        self,
        path: str,
        digest: str,
        statement_count: "Optional[int]",
        site_line: "Optional[int]",
        package: str = DEFAULT_PACKAGE,
    ) -> None:
        self.path = path
        self.digest = digest
        self.statement_count = statement_count
        self.site_line = site_line
        self.package = package

    @classmethod
    def for_statement(cls, script: "Any", statement: "Any") -> "RerunPlan":
        """Plan for a spawn site: a simple statement is never run, a compound one is run
        up to its first process start; nothing after the site runs. No site: run all."""
        if statement is None:
            return cls(script.path, script.digest, None, None)
        count = statement.index if statement.kind == "simple" else statement.index + 1
        return cls(script.path, script.digest, count, statement.first_line)

    def narrowest(self, other: "Optional[RerunPlan]") -> "RerunPlan":
        """The plan that runs fewer statements: a later child never re-runs more of the
        script than an earlier one was allowed to."""
        if other is None or other.path != self.path:
            return self
        if other.statement_count is None:
            return self
        if self.statement_count is None or other.statement_count < self.statement_count:
            return other
        return self

    def for_package(self, package: str) -> "RerunPlan":
        """The same plan, for children prepared by ``package`` (``multiprocess``...)."""
        if package == self.package:
            return self
        return RerunPlan(self.path, self.digest, self.statement_count, self.site_line, package)

    def __reduce__(self) -> "Any":
        return (
            RerunPlan,
            (self.path, self.digest, self.statement_count, self.site_line, self.package),
        )

    def __repr__(self) -> str:
        if self.statement_count is None:
            where = "run every statement until the first process start"
        elif self.site_line is None:
            where = f"run {self.statement_count} statements"
        else:
            where = f"run {self.statement_count} statements (spawn site at line {self.site_line})"
        return f"RerunPlan({self.path!r}, {where}, {self.package})"


class RerunStopped(SystemExit):
    """Raised inside the re-run at a process start, on whichever thread reaches one.

    Not an ``Exception``, so the user's ``except Exception:`` blocks do not swallow it; a
    ``SystemExit`` so that a helper thread it ends leaves no traceback (``threading``
    prints none for ``SystemExit``). The re-running thread catches it and stops there.
    """


def announce(spawn: "Any") -> bool:
    """Whether ``spawn``'s main-module fix-up can be taken over (its parameters are the
    ones expected); if so the re-run is announced (``rerun_state.expect_rerun``), so that
    a file the child's start opens before it (a logging handler's) stays silent until
    the re-run has ended."""
    from spawnfix.private_api import expects

    if not (
        expects(spawn._fixup_main_from_path, "multiprocessing.spawn:_fixup_main_from_path")
        and expects(spawn._fixup_main_from_name, "multiprocessing.spawn:_fixup_main_from_name")
    ):
        return False
    from spawnfix import rerun_state

    rerun_state.expect_rerun()
    return True


def take_over_main_fixup(
    spawn: "Any", plan: "RerunPlan", values: "Optional[ChildValues]" = None
) -> None:
    """Replace the main-module fix-up of ``spawn.prepare`` for its next (only) call: the
    re-run under ``plan``, binding the parent's ``values`` (``spawnfix.child_values``).
    ``announce`` said it can."""
    original_from_path = spawn._fixup_main_from_path
    original_from_name = spawn._fixup_main_from_name

    def restore() -> None:
        spawn._fixup_main_from_path = original_from_path
        spawn._fixup_main_from_name = original_from_name

    def fixup_main_from_path(main_path: str) -> None:
        restore()
        rerun_main_from_path(spawn, plan, main_path, original_from_path, values)

    def fixup_main_from_name(mod_name: str) -> None:
        restore()
        rerun_main_from_name(spawn, plan, mod_name, original_from_name, values)

    spawn._fixup_main_from_path = fixup_main_from_path
    spawn._fixup_main_from_name = fixup_main_from_name
    log_decision("child received %r", plan)


def rerun_main_from_path(
    spawn: "Any",
    plan: "RerunPlan",
    main_path: str,
    original: "Callable[[str], None]",
    values: "Optional[ChildValues]" = None,
) -> None:
    """Controlled twin of ``spawn._fixup_main_from_path`` (``runpy.run_path`` semantics)."""
    # No plan is ever sent for what spawn.prepare skips (running_script.rerun_path); a main
    # already in place (fork server preload) or a non-source file is left to the stdlib.
    current_main = sys.modules["__main__"]
    if getattr(current_main, "__file__", None) == main_path or not main_path.endswith(".py"):
        _rerun_by_stdlib(plan, original, main_path)
        if getattr(current_main, "__file__", None) == main_path:
            _bind_onto_preloaded_main(current_main, values)
        return
    module_globals = {
        "__name__": "__mp_main__",
        "__file__": main_path,
        "__cached__": None,
        "__doc__": None,
        "__loader__": None,
        "__package__": "",
        "__spec__": None,
    }
    namespace = rerun_main_until(plan, main_path, module_globals, values)
    _install_as_main(spawn, namespace)


def rerun_main_from_name(
    spawn: "Any",
    plan: "RerunPlan",
    mod_name: str,
    original: "Callable[[str], None]",
    values: "Optional[ChildValues]" = None,
) -> None:
    """Controlled twin of ``spawn._fixup_main_from_name`` (``runpy.run_module`` semantics)."""
    import importlib.util

    current_main = sys.modules["__main__"]
    if getattr(current_main.__spec__, "name", None) == mod_name:
        _bind_onto_preloaded_main(current_main, values)
        return
    spec = importlib.util.find_spec(mod_name)
    origin = getattr(spec, "origin", None)
    if spec is None or not isinstance(origin, str) or not origin.endswith(".py"):
        _rerun_by_stdlib(plan, original, mod_name)
        return
    module_globals = {
        "__name__": "__mp_main__",
        "__file__": origin,
        "__cached__": spec.cached,
        "__doc__": None,
        "__loader__": spec.loader,
        "__package__": spec.parent,
        "__spec__": spec,
    }
    namespace = rerun_main_until(plan, origin, module_globals, values)
    _install_as_main(spawn, namespace)


def _bind_onto_preloaded_main(main_module: "Any", values: "Optional[ChildValues]") -> None:
    # The fork server imported the main script (3.13.8+/3.14): the child gets the parent's
    # values on top of it. runpy ran the script in a temporary module whose dictionary
    # the functions keep as their globals, a copy of which became __main__: both get them.
    if values is None:
        return
    namespace = vars(main_module)
    values.bind_rest(namespace)
    function_globals = {
        id(value.__globals__): value.__globals__
        for value in namespace.values()
        if getattr(value, "__module__", None) == namespace.get("__name__")
        and isinstance(getattr(value, "__globals__", None), dict)
    }
    for other in function_globals.values():
        if other is not namespace:
            other.update({name: namespace[name] for name in values.bound if name in namespace})
    scope = next(iter(function_globals.values()), namespace)
    for name in _redefine_as_in_parent(values, scope):
        namespace[name] = scope[name]
    log_decision("the parent's values bound onto the preloaded main script")


def _redefine_as_in_parent(values: "ChildValues", scope: "dict[str, Any]") -> "list[str]":
    # A name the script defines twice: the preloaded module has the last definition, the
    # parent (at start()) an earlier one. Run that definition again, from the source.
    import _ast

    from spawnfix.effect_guard import refusing_effects
    from spawnfix.running_script import load_script

    wrong = {
        name: line
        for name, line in values.definitions.items()
        if getattr(getattr(scope.get(name), "__code__", None), "co_firstlineno", line) != line
    }
    script = load_script(scope.get("__file__")) if wrong else None
    if script is None:
        return []
    redefined = []
    for node in script.tree.body:
        if not isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef)):
            continue
        first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        if wrong.get(node.name) != first:
            continue
        code = compile(_ast.Module(body=[node], type_ignores=[]), script.path, "exec")
        try:
            with refusing_effects():
                exec(code, scope)
        except Exception as error:
            log_decision("definition of %s at line %d not run again: %r", node.name, first, error)
            continue
        redefined.append(node.name)
    return redefined


def _rerun_by_stdlib(plan: "RerunPlan", original: "Callable[[str], None]", main: str) -> None:
    # A zip application or .pyc main: runpy runs it whole. A process start still ends the
    # re-run (the child then lacks the script's names, as it would natively).
    try:
        with bootstrap_guards(plan.package):
            original(main)
    except RerunStopped as stop:
        log_decision("standard library re-run of %s stopped: %s", main, stop)


def rerun_main_until(
    plan: "RerunPlan",
    path: str,
    module_globals: "dict[str, Any]",
    values: "Optional[ChildValues]" = None,
) -> "dict[str, Any]":
    """Run the main script in ``module_globals`` as far as the plan allows; return them.

    Mirrors ``runpy._run_module_code``: a temporary ``__mp_main__`` module is registered and
    ``sys.argv[0]`` is the script's path while the code runs.
    """
    import types

    from spawnfix.main_script import observes_its_module_name
    from spawnfix.running_script import source_and_tree

    source, tree = source_and_tree(path)  # a fork server of spawnfix's has read it once
    statements = _statements_to_run(plan, source, tree.body, path)
    temp_module = types.ModuleType("__mp_main__")
    temp_module.__dict__.update(module_globals)
    saved_module = sys.modules.get("__mp_main__")
    saved_argv0 = sys.argv[0] if sys.argv else None
    sys.modules["__mp_main__"] = temp_module
    if sys.argv:
        sys.argv[0] = path
    if values is not None and statements and _is_bare_site(statements[-1], plan):
        log_decision("the spawn site at line %d defines nothing: not entered", plan.site_line)
        statements = statements[:-1]
    from spawnfix.effect_guard import releasing_abandoned_semaphores

    try:
        with releasing_abandoned_semaphores(plan.package):
            with bootstrap_guards(plan.package):
                if values is None:
                    run_statements(statements, path, temp_module.__dict__, source)
                else:
                    from spawnfix.effect_guard import quiet_rerun

                    with quiet_rerun():
                        run_statements(statements, path, temp_module.__dict__, source, values)
            if values is not None:
                values.bind_rest(temp_module.__dict__)
                # A fork child's main module is named __main__ (a worker's
                # getLogger(__name__), loguru's {name}); spawn's child says __mp_main__,
                # which a script that reads its name at the top level keeps.
                if not observes_its_module_name(tree):
                    temp_module.__dict__["__name__"] = "__main__"
    finally:
        if saved_module is None:
            sys.modules.pop("__mp_main__", None)
        else:
            sys.modules["__mp_main__"] = saved_module
        if sys.argv:
            sys.argv[0] = saved_argv0
    return temp_module.__dict__.copy()


def _is_bare_site(node: "Any", plan: "RerunPlan") -> bool:
    # The compound statement holding the spawn site, when running it up to the process
    # start would only bind names (which the parent's values then replace).
    from spawnfix.main_script import defining_node_types, walk

    if plan.statement_count is None or getattr(node, "lineno", None) != plan.site_line:
        return False
    if not hasattr(node, "body"):
        return False
    defining = defining_node_types()
    return not any(isinstance(inner, defining) for inner in walk(node))


def _statements_to_run(
    plan: "RerunPlan", source: bytes, body: "list[Any]", path: str
) -> "list[Any]":
    from spawnfix.main_script import source_digest

    if source_digest(source) != plan.digest:
        log_decision("%s changed since the parent read it: re-running all of it", path)
    elif plan.statement_count is None:
        log_decision("re-running all of %s, stopping at the first process start", path)
    else:
        stop = body[plan.statement_count] if plan.statement_count < len(body) else None
        body = body[: plan.statement_count]
        where = f"stopping before line {stop.lineno}" if stop is not None else "all of them"
        log_decision("re-running %s: %d top-level statements, %s", path, len(body), where)
    return body


def run_statements(
    statements: "list[Any]",
    path: str,
    namespace: "dict[str, Any]",
    source: bytes = b"",
    values: "Optional[ChildValues]" = None,
    importing: bool = False,
) -> None:
    """Execute top-level statements one by one in ``namespace``.

    A statement that raises an ``Exception`` is skipped (it succeeded in the parent and
    fails when repeated: a folder or port that now exists, a file opened with ``"x"``);
    a process start (``RerunStopped``) ends the re-run. With the parent's ``values``
    (``spawnfix.parent_values``), a statement that only binds or changes names the parent
    sent is not run (the names get the parent's values), and every other statement but an
    import runs with changes to the world refused (``spawnfix.effect_guard``). ``importing``:
    the top level of a user module being imported (``spawnfix.quiet_imports``), with the
    same refusal and no values; a process start there ends the import and reaches the
    re-run that imports it.
    """
    import _ast

    from spawnfix.main_script import future_flags, is_bare_string, line_text

    refusing = values is not None or importing
    if refusing:
        from spawnfix.effect_guard import refusing_effects
    flags = future_flags(statements)
    for position, node in enumerate(statements):
        if position and is_bare_string(node):
            continue  # alone in a module it would become the docstring
        guarded = refusing and not isinstance(node, (_ast.Import, _ast.ImportFrom))
        if guarded and values is not None:
            names = values.covers(node)
            if names is not None and values.bind_now(names, namespace):
                if hasattr(node, "body"):
                    log_decision(
                        "re-run of %s: the statement at line %d only computes the parent's "
                        "values (%s): not run",
                        path,
                        node.lineno,
                        ", ".join(names),
                    )
                continue
        module = _ast.Module(body=[node], type_ignores=[])
        code = compile(module, path, "exec", flags, dont_inherit=True)
        try:
            if guarded:
                with refusing_effects():
                    exec(code, namespace)
            else:
                exec(code, namespace)
        except RerunStopped as stop:
            log_decision("re-run of %s stopped at line %d: %s", path, node.lineno, stop)
            if importing:
                raise
            return
        except Exception as error:
            log_decision(
                "re-run of %s: skipped the statement at line %d (%s), which raised %s: %s",
                path,
                node.lineno,
                line_text(source, node.lineno),
                type(error).__name__,
                error,
            )
        finally:
            if values is not None:
                values.note_run(node, namespace)


def _install_as_main(spawn: "Any", namespace: "dict[str, Any]") -> None:
    # Exactly what spawn._fixup_main_from_* do with runpy's result.
    import types

    spawn.old_main_modules.append(sys.modules["__main__"])
    main_module = types.ModuleType("__mp_main__")
    main_module.__dict__.update(namespace)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main_module


# Whether a controlled re-run is in progress in this process: while it is, a process start
# from any thread is stopped. Set only inside ``bootstrap_guards``.
_rerun_active = False


@contextmanager
def bootstrap_guards(package: str = DEFAULT_PACKAGE) -> "Iterator[None]":
    """Neutralise the calls that are fatal during the bootstrapping phase, for a re-run.

    ``package`` is ``multiprocessing`` or a fork of it with the same layout (``multiprocess``,
    ``billiard``). Process starts are stopped on every thread: the standard library would
    raise its bootstrapping error on any of them.
    """
    global _rerun_active
    import importlib

    package_module = importlib.import_module(package)
    process = importlib.import_module(f"{package}.process")
    context_module = importlib.import_module(f"{package}.context")

    original_start = process.BaseProcess.start
    original_set_start_method = package_module.set_start_method

    def start(self: "Any") -> None:
        if _rerun_active:
            raise RerunStopped(f"{type(self).__name__}.start() reached during the re-run")
        original_start(self)

    def set_start_method(method: "Optional[str]", force: bool = False) -> None:
        context = context_module._default_context
        already_set = getattr(context, "_actual_context", None) is not None
        if _rerun_active and already_set and not force:
            log_decision("ignored set_start_method(%r) during the re-run", method)
            return
        original_set_start_method(method, force=force)

    from spawnfix.private_api import Patches

    patches = Patches()
    patches.replace(process.BaseProcess, "start", start)
    patches.replace(package_module, "set_start_method", set_start_method)
    _rerun_active = True
    try:
        yield
    finally:
        _rerun_active = False
        patches.undo()
