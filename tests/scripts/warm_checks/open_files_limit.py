"""Guarded: main() lowers RLIMIT_NOFILE, then a forkserver Pool's workers read theirs."""

import multiprocessing
import resource


def open_files_limit(_):
    return resource.getrlimit(resource.RLIMIT_NOFILE)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = (min(soft, 1000) - 1, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, wanted)
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(sorted({limit == wanted for limit in pool.map(open_files_limit, range(4))}))
