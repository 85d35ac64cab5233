"""Unguarded: ``basicConfig(filename=..., filemode="w", force=True)``; the workers log to
the root logger. The log holds the parent's records and every worker's, none overwritten,
as under fork."""
import logging
import multiprocessing
import os

logging.basicConfig(filename="force.log", filemode="w", force=True, level=logging.INFO)


def work(x):
    logging.info("worker record %d", x)
    return x


logging.info("parent start")
with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    pool.map(work, range(3), chunksize=1)
logging.info("parent end")
logging.shutdown()
with open("force.log") as handle:
    print("".join(sorted(handle.readlines())), end="")
