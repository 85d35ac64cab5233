"""Guarded, its start method read from a variable (spawn here, forkserver by default: a fork server is never
needed): a user module that prints and opens run.log with "w" at import. Natively each
spawn worker imports it again (a banner each); nothing else may import it."""
import multiprocessing
import os

import module_effects_lib


def work(x):
    return x * x


if __name__ == "__main__":
    module_effects_lib.log("parent start")
    pool = multiprocessing.get_context(os.environ.get("START_METHOD", "forkserver")).Pool(2)
    print(pool.map(work, range(3), chunksize=1))
    pool.close()
    pool.join()  # every worker started and ended (a terminate could come before one imports)
    module_effects_lib.log("parent end")
