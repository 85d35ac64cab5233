"""Large numpy arrays reach spawn and forkserver children through shared memory.

Under fork a child shares the parent's pages; under spawn and forkserver every child is
sent its own pickled copy through a pipe (a 400 MB dataset and 4 DataLoader workers: 1.6
GB written, read and held again). Here, while a child is launched (its preparation data,
the parent's values of ``spawnfix.parent_values``, and the process object with its
arguments: a DataLoader's dataset, a Pool's ``initargs``), a C- or Fortran-contiguous
``numpy.ndarray`` of at least ``SPAWNFIX_SHARE_ABOVE`` bytes (default 1 MiB, joblib's
``max_nbytes``) without Python objects is copied once into a memory file (``memfd``: no
name, nothing in ``/dev/shm``) and handed to the child with the launch's descriptors (as
multiprocessing hands a ``Connection``); the child maps it copy-on-write
(``spawnfix.child_shared_buffers``).

- One copy per version of the data, not per child: the next launch compares the array
  with its copy (about 0.1 s for 400 MB) and reuses the copy when they are equal. The
  parent's later writes never reach children started earlier.
- Nothing is left behind: a segment lives while the parent still has a ``Popen`` launched
  with it, or a child has it mapped; the kernel frees it after the last one, also when a
  process is killed.
- It changes no result a program can see: the child's array has the parent's dtype,
  shape, order and contents, and is writable exactly when the standard pickle would make
  it so. Any failure (no ``memfd_create``, memory refused, too many descriptors) sends the
  array through the pipe as without spawnfix.

Not covered: ``Pool`` and executor tasks and ``Queue`` messages (sent after the launch,
outside it), subclasses of ``ndarray`` (``np.memmap``), ``bytes``; torch tensors travel
through torch's own shared memory.
"""

import itertools
import os
import pickle
import sys
import weakref

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

SEGMENT_NAME = "spawnfix-shared-buffer"
# A launch hands at most this many segments, and none once it passes this many
# descriptors (the program's own: Connections, sockets): a fork server takes 256.
MAX_SEGMENTS_PER_LAUNCH = 32
MAX_LAUNCH_DESCRIPTORS = 128
# At most this many segments alive in the parent (each holds a descriptor).
MAX_LIVE_SEGMENTS = 256
_COMPARE_CHUNK = 16 * 2**20
_WRITE_CHUNK = 64 * 2**20

_serial = itertools.count()
_live_segments: "weakref.WeakSet[_Segment]" = weakref.WeakSet()
# (address, nbytes) of the data a region copies -> the region (while some Popen keeps it).
_regions: "weakref.WeakValueDictionary[tuple[int, int], _Region]" = weakref.WeakValueDictionary()
# The Popen being launched -> what its launch has shared (dies with the Popen).
_launches: "weakref.WeakKeyDictionary[Any, _Launch]" = weakref.WeakKeyDictionary()
_classes: "dict[type, type]" = {}


class _Segment:
    """A memory file that regions are appended to, page-aligned."""

    __slots__ = ("__weakref__", "close", "descriptor", "size", "token")

    def __init__(self) -> None:
        global _forgets_in_fork_children
        if not _forgets_in_fork_children:
            os.register_at_fork(after_in_child=_forget_in_fork_child)
            _forgets_in_fork_children = True
        self.descriptor = os.memfd_create(SEGMENT_NAME, os.MFD_CLOEXEC)
        self.size = 0
        self.token = (os.getpid(), next(_serial))
        self.close = weakref.finalize(self, os.close, self.descriptor)
        _live_segments.add(self)

    def append(self, raw: "memoryview") -> "_Region":
        """Copy ``raw`` after what the segment holds; OSError when memory is refused."""
        import mmap

        offset = -(-self.size // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY
        nbytes = raw.nbytes
        os.ftruncate(self.descriptor, offset + nbytes)
        try:
            written = 0
            while written < nbytes:
                chunk = raw[written : written + _WRITE_CHUNK]
                written += os.pwrite(self.descriptor, chunk, offset + written)
        except BaseException:
            os.ftruncate(self.descriptor, self.size)
            raise
        self.size = offset + nbytes
        return _Region(self, offset, nbytes)


_forgets_in_fork_children = False


def _forget_in_fork_child() -> None:
    # A fork child (a fork Pool worker, a daemon that double-forks) holds none of the
    # parent's segments: they are freed when the parent's spawn children are done.
    for segment in list(_live_segments):
        segment.close()
    _live_segments.clear()
    _regions.clear()
    _launches.clear()


class _Region:
    """One array's bytes in a segment."""

    __slots__ = ("__weakref__", "nbytes", "offset", "segment")

    def __init__(self, segment: _Segment, offset: int, nbytes: int) -> None:
        self.segment = segment
        self.offset = offset
        self.nbytes = nbytes

    def holds(self, raw: "memoryview") -> bool:
        """Whether the region still equals ``raw`` (the array was not written since)."""
        import mmap

        numpy = sys.modules["numpy"]
        mapping = mmap.mmap(
            self.segment.descriptor,
            self.nbytes,
            flags=mmap.MAP_SHARED,
            prot=mmap.PROT_READ,
            offset=self.offset,
        )
        try:
            # As 8-byte words (a third of the time of bytes), then the last few bytes.
            words = self.nbytes // 8
            copy = numpy.frombuffer(mapping, numpy.uint64, words)
            data = numpy.frombuffer(raw, numpy.uint64, words)
            try:
                step = _COMPARE_CHUNK // 8
                for start in range(0, words, step):
                    end = start + step
                    if not numpy.array_equal(copy[start:end], data[start:end]):
                        return False
            finally:
                del copy, data
            return mapping[words * 8 :] == raw[words * 8 :].tobytes()
        finally:
            mapping.close()


class _Launch:
    """What one launch shares: its new segment, the regions it uses, the handed segments."""

    __slots__ = ("handed", "new_segment", "regions")

    def __init__(self) -> None:
        self.new_segment: Optional[_Segment] = None
        self.regions: dict[tuple[int, int], _Region] = {}
        # segment token -> (DupFd object, index in popen._fds when it was registered)
        self.handed: dict[Any, tuple[Any, int]] = {}


def threshold() -> int:
    """The smallest array shared (bytes); 0 when sharing is off."""
    from spawnfix import config

    settings = config.current()
    if not settings.active or not hasattr(os, "memfd_create"):
        return 0
    return settings.share_above


def pickler_class(base: type) -> type:
    """``base`` (a ForkingPickler) that shares large arrays during a launch."""
    cls = _classes.get(base)
    if cls is None:

        class SharingPickler(base):  # type: ignore[misc, valid-type]
            def __init__(self, file: "Any", protocol: "Any" = None, *args: "Any", **kw: "Any"):
                super().__init__(file, protocol, *args, **kw)
                add_reducer(self, _effective_protocol(protocol))

        SharingPickler.__qualname__ = SharingPickler.__name__ = base.__name__
        cls = _classes[base] = SharingPickler
    return cls


def add_reducer(pickler: "Any", protocol: int, fork_values: bool = False) -> None:
    """Make ``pickler`` share large arrays during a launch of ``multiprocessing`` (numpy
    must be imported; a table entry the program registered for ``ndarray`` wins).
    ``fork_values``: the array is a parent's value for a fork-written child, which keeps
    the array's writeable flag as under fork."""
    numpy = sys.modules.get("numpy")
    limit = threshold()
    if numpy is None or not limit:
        return
    table = getattr(pickler, "dispatch_table", None)
    if table is None:
        import copyreg

        table = pickler.dispatch_table = copyreg.dispatch_table.copy()
    if numpy.ndarray in table:
        return
    reduction = sys.modules.get("multiprocessing.reduction")

    def reduce_array(array: "Any") -> "Any":
        # Only multiprocessing's own launches (not its forks, multiprocess and billiard).
        shared = None
        if array.nbytes >= limit:
            shared = _share(array, protocol, fork_values, reduction)
        return shared if shared is not None else array.__reduce_ex__(protocol)

    table[numpy.ndarray] = reduce_array


def _effective_protocol(protocol: "Any") -> int:
    if protocol is None:
        return pickle.DEFAULT_PROTOCOL
    return pickle.HIGHEST_PROTOCOL if protocol < 0 else int(protocol)


def _share(array: "Any", protocol: int, fork_values: bool, reduction: "Any") -> "Any":
    # The memory shared: for a child written for spawn, the array's own bytes (the
    # standard pickle copies a view into an array of its own, in C or Fortran order); for
    # a fork child's values, the whole array a view was made from (``a`` and ``v = a[8:]``
    # share memory in a fork child, and so in this one), unless it is much larger.
    root = array
    if fork_values:
        numpy = sys.modules["numpy"]
        while isinstance(root.base, numpy.ndarray):
            root = root.base
        if root.nbytes > 2 * array.nbytes:
            root = array
    flags = root.flags
    if (
        root.dtype.hasobject
        or not array.dtype.isnative  # protocol 4 gives such an array in native byte order
        or not (flags.c_contiguous or flags.f_contiguous)
    ):
        return None
    from spawnfix.process_state import spawning_popen

    popen = spawning_popen(reduction) if reduction is not None else None
    if popen is None:
        return None
    try:
        raw = pickle.PickleBuffer(root).raw()
        launch = _launches.get(popen)
        if launch is None:
            launch = _launches[popen] = _Launch()
        region = _region(raw, root, launch)
        if region is None:
            return None
        handed = _hand(region.segment, popen, launch, reduction)
        if handed is None:
            return None
    except Exception as error:  # fail open: through the pipe, as without spawnfix
        log_decision("array of %d bytes sent through the pipe: %r", array.nbytes, error)
        return None
    from spawnfix.child_shared_buffers import rebuild_array

    if root is array:
        order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        layout: Any = order  # numpy's own rebuild: frombuffer, then reshape in this order
    else:
        start = array.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        layout = (start, array.strides)
    # The standard pickle gives a writable copy, but protocol 5 keeps a read-only array
    # read-only (numpy's out-of-band reduction); a fork child has the parent's flag.
    writeable = bool(array.flags.writeable) or (protocol < 5 and not fork_values)
    arguments = (handed, region.segment.token, region.offset, region.nbytes)
    return (rebuild_array, (*arguments, array.dtype, array.shape, layout, writeable, fork_values))


def _region(raw: "memoryview", root: "Any", launch: _Launch) -> "Optional[_Region]":
    key = (root.__array_interface__["data"][0], raw.nbytes)
    region = launch.regions.get(key)
    if region is not None:
        return region  # the same data earlier in this launch (a value and an argument)
    region = _regions.get(key)
    if region is not None and region.holds(raw):
        log_decision("array of %d bytes: the copy made for an earlier child", raw.nbytes)
    else:
        segment = launch.new_segment
        if segment is None:
            if not _room_for_a_segment():
                return None
            segment = launch.new_segment = _Segment()
        region = segment.append(raw)
        _regions[key] = region
        log_decision("array of %d bytes copied to shared memory", raw.nbytes)
    launch.regions[key] = region
    return region


def _room_for_a_segment() -> bool:
    # Each segment holds a descriptor in the parent while a child launched with it lives:
    # leave the program most of its descriptors (a quarter of the limit, at least 64).
    if len(_live_segments) >= MAX_LIVE_SEGMENTS:
        return False
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if limit == resource.RLIM_INFINITY:
            return True
        in_use = len(os.listdir("/proc/self/fd"))
    except (ImportError, OSError, ValueError):
        return True
    if limit - in_use < max(64, limit // 4):
        log_decision("arrays through the pipe: %d of %d descriptors in use", in_use, limit)
        return False
    return True


def _hand(segment: _Segment, popen: "Any", launch: _Launch, reduction: "Any") -> "Any":
    # One DupFd per segment and launch. A pickling attempt that failed may have dropped
    # the descriptors it registered (spawnfix.by_value retries): register again then.
    known = launch.handed.get(segment.token)
    if known is not None:
        handed, index = known
        if index < len(popen._fds) and popen._fds[index] == segment.descriptor:
            return handed
    if len(launch.handed) >= MAX_SEGMENTS_PER_LAUNCH or len(popen._fds) >= MAX_LAUNCH_DESCRIPTORS:
        return None
    index = len(popen._fds)
    handed = reduction.DupFd(segment.descriptor)
    launch.handed[segment.token] = (handed, index)
    return handed
