"""Arrays a child written for spawn is sent, where the standard pickle has something to
say: a big-endian array (protocol 4 gives it in native byte order), a read-only array
(protocol 5: the child cannot make it writable), one array twice and a copy of its view
(the same object twice; two separate copies), 200 arrays under a descriptor limit of 128,
and whether the child's descriptors reach what it executes. argv[1]: the start method."""

import multiprocessing as mp
import os
import resource
import sys

import numpy as np


def child(big_endian, read_only, same, same_again, whole_view, many):
    print("big-endian", big_endian.dtype.str, float(big_endian[3]), big_endian.dtype.isnative)
    print("read-only writeable", read_only.flags.writeable)
    try:
        read_only.setflags(write=True)
        print("setflags(write=True) worked")
    except ValueError as error:
        print("setflags(write=True) refused:", error)
    same[0] = -1.0
    print("the same object twice:", same is same_again, "| a view's copy changed:", whole_view[0])
    print("many:", len(many), sum(float(array[0]) for array in many))
    inheritable = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if "spawnfix-shared-buffer" in os.readlink(f"/proc/self/fd/{fd}"):
                inheritable += os.get_inheritable(int(fd))
        except OSError:
            pass
    print("segment descriptors a program it executes inherits:", inheritable)


def main():
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    big_endian = np.arange(2**18, dtype=">f8")
    read_only = np.zeros(2**18)
    read_only.flags.writeable = False
    same = np.ones(2**18)
    many = [np.full(2**17, float(i)) for i in range(200)]
    args = (big_endian, read_only, same, same, same[:], many)
    process = mp.get_context(sys.argv[1]).Process(target=child, args=args)
    process.start()
    process.join(60)
    print("exit code", process.exitcode, "| parent's array", float(same[0]))


if __name__ == "__main__":
    main()
