"""Guarded: main() blocks SIGUSR1, then a forkserver Pool's workers read their mask."""

import multiprocessing
import signal


def blocks_sigusr1(_):
    return signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(sorted(set(pool.map(blocks_sigusr1, range(4)))))
