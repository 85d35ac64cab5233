"""Child side of shared buffers (``spawnfix.parent_shared_buffers``): map an array the
parent put into shared memory, copy-on-write.

Mappings are ``MAP_PRIVATE``: the child reads the parent's pages where they are, its own
writes go to private copies (as a fork child's), and nothing it does reaches the parent or
its siblings. A segment (all the arrays of one launch) is mapped once, and its arrays are
views into that mapping: a fork child's values that were views of one array share its
memory again. An array a child written for spawn is sent twice gets two copies, as with
the standard pickle (the second one its own mapping). The segment's descriptor is not
inherited by what the child executes; the kernel frees the memory when the last process
holding it has ended, also after a crash.
"""

import mmap
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Segment token -> (descriptor, mapping of the whole segment).
_segments: "dict[Any, tuple[int, mmap.mmap]]" = {}
# (token, offset) of regions already given out from the shared mapping.
_given: "set[tuple[Any, int]]" = set()


def rebuild_array(
    handed: "Any",
    token: "Any",
    offset: int,
    nbytes: int,
    dtype: "Any",
    shape: "tuple[int, ...]",
    layout: "Any",
    writeable: bool,
    fork_values: bool = False,
) -> "Any":
    """Unpickling hook: the array in ``nbytes`` at ``offset`` of the segment ``handed``
    (multiprocessing's DupFd). ``layout``: ``"C"``/``"F"`` for an array of its own (as
    numpy's ``_frombuffer`` rebuilds it), or (start, strides) of a view of that memory."""
    import numpy

    descriptor, whole = _segment(handed, token)
    if fork_values or (token, offset) not in _given:
        _given.add((token, offset))
        buffer: Any = memoryview(whole)[offset : offset + nbytes]
    else:  # the same memory again for a spawn child: a copy of its own
        buffer = mmap.mmap(
            descriptor,
            nbytes,
            flags=mmap.MAP_PRIVATE,
            prot=mmap.PROT_READ | mmap.PROT_WRITE,
            offset=offset,
        )
    if not writeable:
        buffer = memoryview(buffer).toreadonly()  # setflags(write=True) refused, as natively
    if isinstance(layout, str):
        return numpy.frombuffer(buffer, dtype=dtype).reshape(shape, order=layout)
    start, strides = layout
    return numpy.ndarray(shape, dtype=dtype, buffer=buffer, offset=start, strides=strides)


def _segment(handed: "Any", token: "Any") -> "tuple[int, mmap.mmap]":
    known = _segments.get(token)
    if known is None:
        descriptor = handed.detach()
        os.set_inheritable(descriptor, False)  # not for what the child executes
        size = os.fstat(descriptor).st_size
        whole = mmap.mmap(
            descriptor, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
        known = _segments[token] = (descriptor, whole)
    return known
