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
# Packages patched here, with the originals, for ``uninstall``.
_patched: "dict[str, tuple[Any, Any, dict[str, Any]]]" = {}


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
    originals = {
        "base_get_context": context.BaseContext.get_context,
        "default_get_context": context.DefaultContext.get_context,
        "default_set_start_method": context.DefaultContext.set_start_method,
        "get_context": getattr(package_module, "get_context", None),
        "set_start_method": getattr(package_module, "set_start_method", None),
    }

    def recording(original: "Any") -> "Any":
        def named(self: "Any", method: "Any" = None, *args: "Any", **kwargs: "Any") -> "Any":
            if isinstance(method, str):
                chosen.add(method)
            return original(self, method, *args, **kwargs)

        named.__wrapped__ = original  # type: ignore[attr-defined]
        named.__name__ = original.__name__
        named.__doc__ = original.__doc__
        return named

    context.BaseContext.get_context = recording(originals["base_get_context"])
    context.DefaultContext.get_context = recording(originals["default_get_context"])
    context.DefaultContext.set_start_method = recording(originals["default_set_start_method"])
    # ``multiprocessing.get_context`` is the default context's bound method, taken when
    # the package was imported: bound again to see the wrappers.
    default = context._default_context
    if originals["get_context"] is not None:
        package_module.get_context = default.get_context
    if originals["set_start_method"] is not None:
        package_module.set_start_method = default.set_start_method
    _patched[package] = (package_module, context, originals)


def uninstall() -> None:
    """Put every original back."""
    while _patched:
        _, (package_module, context, originals) = _patched.popitem()
        context.BaseContext.get_context = originals["base_get_context"]
        context.DefaultContext.get_context = originals["default_get_context"]
        context.DefaultContext.set_start_method = originals["default_set_start_method"]
        for name in ("get_context", "set_start_method"):
            if originals[name] is not None:
                setattr(package_module, name, originals[name])


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
