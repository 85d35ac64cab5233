"""Parent: a value whose pickling would run the program's own code is not sent.

``fork`` copies the parent's memory and runs no code of the program's. Sending the parent's
values (``spawnfix.parent_values``) pickles them at every ``start()``, and pickling calls the
reduction methods of each object's class: a ``__getstate__`` of the script's or of a user
module that changes the live object (``self.__dict__.pop("cache")``), opens a connection or
counts its calls would act in the parent where fork never runs it. So a value holding an
object whose class (or a base) defines ``__reduce_ex__``, ``__reduce__``, ``__getstate__``,
``__getnewargs_ex__``, ``__getnewargs__`` or ``__getattribute__`` in the program's own code
(``spawnfix.user_modules``), or that ``copyreg`` reduces with a function of it, is not sent:
the child computes it, as it computes any value that does not pickle. Reducers of the
standard library and installed packages (a dataclass's, numpy's, pandas') are taken as
free of effects. Not covered: a class's ``__getattr__``, which pickling consults only on
Python 3.8-3.10 and only for names the class lacks.
"""

import copyreg
import pickle
import sys

from spawnfix.user_modules import MAIN_NAMES, is_users_own

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

_REDUCTION_METHODS = (
    "__reduce_ex__",
    "__reduce__",
    "__getstate__",
    "__getnewargs_ex__",
    "__getnewargs__",
    "__getattribute__",
)


class RunsProgramCode(pickle.PicklingError):
    """Pickling a value would call a reduction method of the program's own code."""


class ProgramSafePickler(pickle.Pickler):
    """A pickler that refuses an object whose pickling would run the program's code."""

    def reducer_override(self, obj: "Any") -> "Any":
        """Refuse ``obj`` if its class's reduction is the program's code; else pickle as usual."""
        kind = type(obj)
        method = _verdicts.get(kind, _UNDECIDED)
        if method is _UNDECIDED:
            method = _verdicts[kind] = program_reduction(kind)
        if method is not None:
            raise RunsProgramCode(f"pickling it would run {method}, which fork never runs")
        return NotImplemented


_UNDECIDED = object()
# Class -> the program's reduction method it has ("Model.__getstate__"), or None.
_verdicts: "dict[type, Any]" = {}


def program_reduction(kind: type) -> "Optional[str]":
    """The name of the first reduction method of ``kind`` that is the program's own code
    (``Model.__getstate__``), or None."""
    reducer = copyreg.dispatch_table.get(kind)
    if reducer is not None and _is_programs(reducer):
        return f"copyreg's reducer {getattr(reducer, '__qualname__', reducer)!s}"
    for klass in getattr(kind, "__mro__", ()):
        owned = vars(klass)
        for name in _REDUCTION_METHODS:
            method = owned.get(name)
            if method is not None and _is_programs(getattr(method, "__func__", method)):
                return f"{klass.__qualname__}.{name}"
    return None


def _is_programs(function: "Any") -> bool:
    code = getattr(function, "__code__", None)
    module = getattr(function, "__module__", None)
    if code is None or not isinstance(module, str):
        return False
    if module in MAIN_NAMES:
        return True
    imported = sys.modules.get(module)
    return imported is not None and is_users_own(module, imported)
