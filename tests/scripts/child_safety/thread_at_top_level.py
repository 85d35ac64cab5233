"""Unguarded: a top-level statement starts a thread that rewrites beat.log ("w") and waits
for it. Under fork the thread ran once, in the parent: the file says so."""
import multiprocessing
import os
import threading

PARENT = os.getpid()


def beat():
    with open("beat.log", "w") as handle:
        handle.write(f"beat from {'the parent' if os.getpid() == PARENT else 'a child'}\n")


writer = threading.Thread(target=beat); writer.start(); writer.join()  # noqa: E702


def work(x):
    return x


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    pool.map(work, range(2))
with open("beat.log") as handle:
    print(handle.read(), end="")
