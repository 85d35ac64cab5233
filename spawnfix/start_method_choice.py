"""Parent side: which start methods the program chose itself, and so which children get
fork's values.

A program that chose spawn or forkserver (``set_start_method``, ``get_context(method)``,
and through them ``mp_context=``, ``multiprocessing_context=``, ``torch.multiprocessing.
spawn``) was written for spawn's children: they import the script and compute their own
globals, and spawnfix leaves that alone. A program that starts children with a method it
did not choose (Linux's forkserver default since 3.14, also through a library such as a
``DataLoader`` without a context) was written for fork: its children get the parent's
values (``spawnfix.parent_values``), as a fork child has them.

``install`` wraps the ``get_context`` and ``set_start_method`` of a multiprocessing
package's contexts (arguments passed through) to record each method named; the decision
is per start method, so a program that names spawn for one pool and uses the default for
another gets each as it wrote it. Not covered: a method named by a library on the
program's behalf counts as the program's choice.
"""

import importlib

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

# The start methods named so far in this process, by package (multiprocessing, its forks).
_chosen: "dict[str, set[str]]" = {}
# Packages patched here, with their replacements (spawnfix.private_api.Patches), for ``uninstall``.
_patched: "dict[str, Any]" = {}


def install(package_module: "Any") -> None:
    """Record the start methods the program names through ``package_module``'s contexts
    (idempotent; the startup hook calls it when the package is imported)."""
    package = package_module.__name__
    if package in _patched:
        return
    context = importlib.import_module(f"{package}.context")
    from spawnfix.private_api import expects

    if not all(
        expects(function, f"multiprocessing.context:{name}")
        for name, function in (
            ("BaseContext.get_context", context.BaseContext.get_context),
            ("DefaultContext.get_context", context.DefaultContext.get_context),
            ("DefaultContext.set_start_method", context.DefaultContext.set_start_method),
        )
    ):
        return
    chosen = _chosen.setdefault(package, set())

    def recording(original: "Any") -> "Any":
        def named(self: "Any", method: "Any" = None, *args: "Any", **kwargs: "Any") -> "Any":
            if isinstance(method, str):
                chosen.add(method)
            return original(self, method, *args, **kwargs)

        named.__name__ = original.__name__
        named.__doc__ = original.__doc__
        return named

    from spawnfix.private_api import Patches

    patches = Patches()
    for owner, name in (
        (context.BaseContext, "get_context"),
        (context.DefaultContext, "get_context"),
        (context.DefaultContext, "set_start_method"),
    ):
        patches.replace(owner, name, recording(getattr(owner, name)))
    # ``multiprocessing.get_context`` is the default context's bound method, taken when
    # the package was imported: bound again to see the wrappers.
    default = context._default_context
    for name in ("get_context", "set_start_method"):
        if getattr(package_module, name, None) is not None:
            patches.replace(package_module, name, getattr(default, name), wraps=False)
    _patched[package] = patches


def uninstall() -> None:
    """Put every original back."""
    while _patched:
        _, patches = _patched.popitem()
        patches.undo()


def chose(method: str, package: str = "multiprocessing") -> bool:
    """Whether the program named ``method`` itself (so far in this process)."""
    return method in _chosen.get(package, ())


def default_method(package: str = "multiprocessing") -> "Optional[str]":
    """The start method a program gets without choosing one."""
    try:
        context = importlib.import_module(f"{package}.context")
        return str(context._default_context._default_context._name)
    except Exception:
        return None


def written_for_fork(method: str, package: str = "multiprocessing") -> bool:
    """Whether a guarded program's child started with ``method`` was written for fork:
    the program did not choose that method, and the platform's default is not spawn
    (where it is, every program is written for spawn's children)."""
    default = default_method(package)
    return not chose(method, package) and method == default and default != "spawn"
