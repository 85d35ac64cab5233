"""Child side of shared buffers (``spawnfix.parent_shared_buffers``): map an array the
parent put into shared memory, copy-on-write.

The mapping is ``MAP_PRIVATE``: the child reads the parent's pages where they are, its
own writes go to private copies (as a fork child's), and nothing it does reaches the
parent or its siblings. The descriptor stays open for the child's life (a value may be
unpickled more than once, each time a mapping of its own); the kernel frees the memory
when the last process holding it has closed it or ended, also after a crash.
"""

import mmap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Segment token -> the descriptor this child received for it.
_descriptors: "dict[Any, int]" = {}


def rebuild_array(
    handed: "Any",
    token: "Any",
    offset: int,
    nbytes: int,
    dtype: "Any",
    shape: "tuple[int, ...]",
    order: str,
    writeable: bool,
) -> "Any":
    """Unpickling hook: the array of ``nbytes`` at ``offset`` of the segment ``handed``
    (multiprocessing's DupFd), as numpy's own ``_frombuffer`` would rebuild it."""
    import numpy

    descriptor = _descriptors.get(token)
    if descriptor is None:
        descriptor = _descriptors[token] = handed.detach()
    mapping = mmap.mmap(
        descriptor,
        nbytes,
        flags=mmap.MAP_PRIVATE,
        prot=mmap.PROT_READ | mmap.PROT_WRITE,
        offset=offset,
    )
    array = numpy.frombuffer(mapping, dtype=dtype).reshape(shape, order=order)
    if not writeable:
        array.flags.writeable = False
    return array
