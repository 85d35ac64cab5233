"""Unguarded: worker functions read the main module's __name__ (getLogger(__name__) in a
worker, loguru's {name}). Under fork they see "__main__"."""
import multiprocessing
import os


def name_seen(_):
    return __name__


context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2) as pool:
    print(pool.map(name_seen, range(2)))
