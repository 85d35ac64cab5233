"""wandb integration: one run per script, and no crash when old wandb spawns its backend.

Activated when the program imports ``wandb`` (never a dependency of spawnfix). ``install``
wraps ``wandb.init`` with a wrapt ``FunctionWrapper`` in the three places that hold the same
function (``wandb.init``, ``wandb.sdk.init``, ``wandb.sdk.wandb_init.init``), right after
``wandb/__init__`` has run, so every way of calling it sees the wrapper and
``from wandb import init`` binds the wrapped one. The wrapper returns exactly what wandb
returns, so ``isinstance`` checks in Lightning and elsewhere keep working.

- In a child that is still bootstrapping (re-running the main script), ``wandb.init()``
  returns wandb's own disabled run: no run is created, nothing is written, no backend is
  started. The parent's warning tells the user (``spawnfix.mp_hooks``).
- In the parent, a call from unguarded top-level code is recorded for that warning. For
  wandb versions that start their backend with multiprocessing (before 0.13; 0.13 to 0.17
  with the service disabled) and would use spawn, that one call switches to thread start
  (``WANDB_START_METHOD=thread``), unless the user chose a start method.

Tested with wandb 0.12.5 to 0.31.0. A wandb whose ``init`` is not a plain function is left
alone, with a debug log line saying why.
"""

import os
import sys
import types

from spawnfix import config, messages
from spawnfix.diagnostics import log_decision, warn_once
from spawnfix.errors import UnguardedMainError

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional


INIT_LOCATIONS = (("wandb", "init"), ("wandb.sdk", "init"), ("wandb.sdk.wandb_init", "init"))
TESTED_RANGE = "0.12.5 to 0.31.0"
START_METHOD_VARIABLE = "WANDB_START_METHOD"
MULTIPROCESSING_PACKAGES = ("multiprocessing", "multiprocess", "billiard")

# (module, attribute, original) for every place patched, so ``uninstall`` can undo it.
_patched: "list[tuple[Any, str, Any]]" = []


def install(wandb_module: "Any") -> None:
    """Wrap ``wandb.init`` wherever wandb binds it; a second call is a no-op."""
    if _patched:
        return
    original = getattr(wandb_module, "init", None)
    if not isinstance(original, types.FunctionType):
        log_decision(
            "wandb %s: wandb.init is %r, not a plain function; wandb integration skipped",
            getattr(wandb_module, "__version__", "?"),
            type(original),
        )
        return
    import wrapt

    wrapper = wrapt.FunctionWrapper(original, wrap_init)
    for module_name, attribute in INIT_LOCATIONS:
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, attribute, None) is original:
            setattr(module, attribute, wrapper)
            _patched.append((module, attribute, original))
    log_decision(
        "wandb %s: wrapped wandb.init in %s",
        getattr(wandb_module, "__version__", "?"),
        ", ".join(f"{module.__name__}.{attribute}" for module, attribute, _ in _patched),
    )


def uninstall() -> None:
    """Put the original ``wandb.init`` back everywhere it was wrapped."""
    while _patched:
        module, attribute, original = _patched.pop()
        setattr(module, attribute, original)


def wrap_init(wrapped: "Any", instance: "Any", args: "tuple", kwargs: "dict") -> "Any":
    """The wrapt wrapper around ``wandb.init`` (``wrapper(wrapped, instance, args, kwargs)``)."""
    if in_bootstrapping_child():
        return _disabled_run(wrapped, args, kwargs)
    site = _unguarded_call_site()
    if site is None:
        return wrapped(*args, **kwargs)
    from spawnfix import mp_hooks

    mp_hooks.record_call(site.statement.first_line, mp_hooks.WANDB_INIT)
    start_method = _backend_start_method_to_replace(kwargs)
    if start_method is None:
        return wrapped(*args, **kwargs)
    _announce_thread_start(site, start_method)
    return _call_with_thread_start(wrapped, args, kwargs)


def in_bootstrapping_child() -> bool:
    """Whether this process is a multiprocessing child still preparing (re-running main),
    for multiprocessing and its forks (``multiprocess``, ``billiard``)."""
    for package in MULTIPROCESSING_PACKAGES:
        process = sys.modules.get(f"{package}.process")
        if process is not None and getattr(process.current_process(), "_inheriting", False):
            return True
    return False


def _disabled_run(wrapped: "Any", args: "tuple", kwargs: "dict") -> "Any":
    log_decision("wandb.init() during the bootstrapping phase: returning a disabled run")
    # A disabled run creates nothing, but wandb sets up its settings on the way (the
    # environment, its folder): a child's effect-free re-run lets it.
    from spawnfix.effect_guard import allowing_effects

    with allowing_effects():
        try:
            return wrapped(*args, **{**kwargs, "mode": "disabled"})
        except Exception as error:
            log_decision("wandb.init(mode='disabled', ...) failed (%r); retrying bare", error)
            return wrapped(mode="disabled", config=kwargs.get("config"))


def _unguarded_call_site() -> "Any":
    from spawnfix import running_script

    main_module = sys.modules.get("__main__")
    script = running_script.load_main_script(main_module)
    site = running_script.find_spawn_site(main_module, script)
    return site if site is not None and site.unguarded else None


def _backend_start_method_to_replace(kwargs: "dict") -> "Optional[str]":
    """The start method old wandb would use for its backend, if it re-runs the script."""
    import wandb

    if not uses_multiprocessing_backend(getattr(wandb, "__version__", "")):
        return None
    if os.environ.get(START_METHOD_VARIABLE) or _settings_value(kwargs, "start_method"):
        log_decision("wandb start method chosen by the user: respected")
        return None
    return "spawn"


def uses_multiprocessing_backend(version: str) -> bool:
    """Whether this wandb version starts its backend with ``multiprocessing`` (and has
    a working thread start): before 0.13, or 0.13 to 0.17 with the service disabled."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    major, minor = [*parts, 0, 0][:2]
    if (major, minor) < (0, 13):
        return True
    if (major, minor) >= (0, 18):
        return False
    return os.environ.get("WANDB_DISABLE_SERVICE", "").lower() in ("1", "true", "yes")


def _settings_value(kwargs: "dict", name: str) -> "Any":
    settings = kwargs.get("settings")
    if isinstance(settings, dict):
        return settings.get(name)
    return getattr(settings, name, None) if settings is not None else None


def _announce_thread_start(site: "Any", start_method: str) -> None:
    line = site.statement.first_line
    text = site.script.line_text(line)
    mode = config.current()
    if mode.mode == config.STRICT:
        raise UnguardedMainError(
            messages.wandb_thread_start_error(site.script.path, line, text, start_method)
        )
    log_decision("wandb.init at %s:%d switched to thread start", site.script.path, line)
    if mode.warns:
        warning = messages.wandb_thread_start(site.script.path, line, text, start_method)
        warn_once("wandb thread start", warning, site.script.path, line)


def _call_with_thread_start(wrapped: "Any", args: "tuple", kwargs: "dict") -> "Any":
    saved = os.environ.get(START_METHOD_VARIABLE)
    os.environ[START_METHOD_VARIABLE] = "thread"
    try:
        return wrapped(*args, **kwargs)
    finally:
        if saved is None:
            os.environ.pop(START_METHOD_VARIABLE, None)
        else:
            os.environ[START_METHOD_VARIABLE] = saved
