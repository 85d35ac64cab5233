"""Unguarded: the target of a Process is a top-level lambda statement."""
import multiprocessing as mp
import os

show = lambda v: print("child got", v, flush=True)  # noqa: E731
p = mp.get_context(os.environ["START_METHOD"]).Process(target=show, args=(7,))
p.start()
p.join()
print("exit", p.exitcode)
