"""One way to replace a function of another module, and to put it back.

Every hook of spawnfix is a plain function put in place of the standard library's (no
wrapt proxy: importing wrapt costs more than a small ``Pool``'s whole budget, in every
process that starts a child). A mechanism keeps its replacements in one ``Patches``:
``replace`` records the attribute as it was (a ``staticmethod`` or ``classmethod`` stays
one, an inherited one is inherited again after ``undo``) and gives the replacement a
``__wrapped__`` that reaches the original function; ``undo`` puts every attribute back,
newest first. A replacement that must check the function it replaces first does so with
``spawnfix.private_api.expects``.
"""

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any


class Patches:
    """The replacements one mechanism made, undone together."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._done)

    def replace(self, owner: "Any", name: str, replacement: "Any", wraps: bool = True) -> "Any":
        """Put ``replacement`` in place of ``owner.name``; return the original function
        (unwrapped from a ``staticmethod``/``classmethod``). ``wraps``: the replacement
        gets a ``__wrapped__`` reaching that function (not for a re-bound method that
        has its own)."""
        own = name in vars(owner)
        raw = vars(owner)[name] if own else getattr(owner, name)
        original = getattr(raw, "__func__", raw)
        if wraps:
            getattr(replacement, "__func__", replacement).__wrapped__ = original
        setattr(owner, name, replacement)
        self._done.append((owner, name, raw if own else _INHERITED))
        return original

    def holds(self, owner: "Any", name: str) -> bool:
        """Whether ``owner.name`` is one of the replacements made here."""
        return any(done is owner and done_name == name for done, done_name, _ in self._done)

    def undo(self) -> None:
        """Put back every attribute replaced, newest first."""
        while self._done:
            owner, name, raw = self._done.pop()
            if raw is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, raw)


# The attribute was inherited: ``undo`` removes the replacement again.
_INHERITED = object()
