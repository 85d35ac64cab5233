"""Guarded: the documented idiom, SIGINT ignored while the forkserver Pool starts."""

import signal


def sigint_handler(_):
    handler = signal.getsignal(signal.SIGINT)
    return "SIG_IGN" if handler is signal.SIG_IGN else getattr(handler, "__name__", str(handler))


if __name__ == "__main__":
    # As in a terminal, whatever the launcher ignored (a background job of a shell script
    # starts with SIGINT ignored), so that ignoring it below is a change.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import multiprocessing  # the warm fork server starts here

    original = signal.signal(signal.SIGINT, signal.SIG_IGN)
    pool = multiprocessing.get_context("forkserver").Pool(2)
    signal.signal(signal.SIGINT, original)
    with pool:
        print(sorted(set(pool.map(sigint_handler, range(4)))))
