"""A guarded program that chose its start method (argv[1]) sends large numpy arrays to
its children as Process arguments. Prints what the children see; the last line says how
their arrays were mapped (spawnfix: shared memory, one copy per version of the data)."""

import multiprocessing as mp
import os
import sys

import numpy as np

SEGMENT = "spawnfix-shared-buffer"


def mapping_of(array):
    # The /proc/self/maps line holding the array's data: (file, offset) or None.
    address = array.__array_interface__["data"][0]
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            low, high = (int(part, 16) for part in fields[0].split("-"))
            if low <= address < high and len(fields) >= 6 and SEGMENT in line:
                return fields[4], int(fields[2], 16) + address - low
    return None


def child(name, big, fortran, small, reports, go_on):
    if go_on is not None:
        go_on.wait(30)  # the parent has written big[2] since this child started
    seen = (float(big[1]), float(big[2]), float(big[3:].sum()), float(small.sum()))
    shape = (big.dtype.str, big.shape, fortran.shape, fortran.flags.f_contiguous)
    flags = (big.flags.writeable, fortran.flags.writeable)
    big[0] = -1.0  # a child's write stays its own
    if fortran.flags.writeable:
        fortran[0, 0] = -1.0
    reports.put((name, seen, shape, flags, float(big[0]), mapping_of(big), mapping_of(fortran)))


def main():
    if os.environ.get("LIMIT_FSIZE"):
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (2**16, resource.RLIM_INFINITY))
    ctx = mp.get_context(sys.argv[1])
    reports = ctx.Queue()
    big = np.arange(1_000_000, dtype=np.float64)  # 8 MB
    fortran = np.asfortranarray(np.arange(600 * 400, dtype=np.float64).reshape(600, 400))
    fortran.flags.writeable = False  # standard pickle: writable below protocol 5
    small = np.ones(1000)

    def run(name, go_on=None):
        process = ctx.Process(target=child, args=(name, big, fortran, small, reports, go_on))
        process.start()
        return process

    results = {}
    for name in ("first", "second"):  # one after the other: the first one's writes are done
        process = run(name)
        results[name] = reports.get(timeout=60)
        process.join(60)
    go_on = ctx.Event()
    waiting = run("started before the parent wrote", go_on)
    big[2] = 1e9  # the parent writes after that child's start: it keeps the old value
    go_on.set()
    results["early"] = reports.get(timeout=60)
    waiting.join(60)
    third = run("started after the parent wrote")
    results["third"] = reports.get(timeout=60)
    third.join(60)
    for name, seen, shape, flags, own, _, _ in results.values():
        print(name, seen, shape, "writeable", flags, "own write", own)
    print("parent", float(big[0]), float(big[1]), float(big[2]), float(fortran[0, 0]))
    maps = {key: value[5] for key, value in results.items()}
    if not any(maps.values()):
        print("mappings: none")
        return
    assert all(maps.values()), maps
    assert all(value[6] for value in results.values()), results
    same = maps["first"] == maps["second"] == maps["early"]
    print("mappings: shared;", "first, second, early: one copy" if same else maps, end="; ")
    print("third: a new copy" if maps["third"] != maps["first"] else "third: the old copy!")


if __name__ == "__main__":
    main()
