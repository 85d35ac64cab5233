"""Unguarded: the target function is defined inside the top-level `for` that starts it."""
import multiprocessing as mp
import os

ctx = mp.get_context(os.environ["START_METHOD"])
for _ in range(1):
    def show(v):
        print("child got", v, flush=True)

    p = ctx.Process(target=show, args=(42,))
    p.start()
    p.join()
print("exit", p.exitcode)
