"""Guarded, on the start method it did not choose (forkserver by default since 3.14):
a user module that prints and opens run.log with "w" at import. Under fork it is imported
once: one banner, and run.log holds the parent's lines and every worker's."""
import multiprocessing

import module_effects_lib


def work(x):
    module_effects_lib.log(f"worker {x}")
    return x


if __name__ == "__main__":
    module_effects_lib.log("parent start")
    with multiprocessing.Pool(2) as pool:
        pool.map(work, range(3), chunksize=1)
    module_effects_lib.log("parent end")
    with open("run.log") as handle:
        print("run.log:", "|".join(sorted(handle.read().splitlines())))
