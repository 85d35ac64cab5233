"""Unguarded: ``basicConfig(handlers=[RotatingFileHandler("app.log")])``; the workers log
through a named logger. Every worker record reaches app.log, as under fork (the handler
does not pickle, and the re-run's basicConfig opens the file again)."""
import logging
import logging.handlers
import multiprocessing
import os

logging.basicConfig(level=logging.INFO, handlers=[logging.handlers.RotatingFileHandler("app.log")])
log = logging.getLogger("app")


def work(x):
    log.info("worker record %d", x)
    return x


log.info("parent start")
with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    pool.map(work, range(3), chunksize=1)
log.info("parent end")
logging.shutdown()
with open("app.log") as handle:
    print("".join(sorted(handle.readlines())), end="")
