"""The summed PSS of a process's descendants, read by the benchmark scripts themselves."""

import os


def children_pss_mib():
    """The summed PSS of this process's descendants (workers, fork server, tracker)."""
    total, waiting = 0, [os.getpid()]
    while waiting:
        parent = waiting.pop()
        for task in os.listdir(f"/proc/{parent}/task"):
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(child) for child in handle.read().split()]
            except OSError:
                continue
            for child in children:
                try:
                    with open(f"/proc/{child}/smaps_rollup") as handle:
                        total += sum(int(ln.split()[1]) for ln in handle if ln.startswith("Pss:"))
                except OSError:  # it ended meanwhile
                    pass
            waiting.extend(children)
    return total / 1024
