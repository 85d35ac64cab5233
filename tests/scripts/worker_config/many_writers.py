"""Guarded: the parent and four Pool workers log long records into one file at the same
time. Under fork (a shared descriptor) every record is one intact line."""
import logging
import multiprocessing
import os
import sys

log = logging.getLogger("many")
RECORDS = 200
PAYLOAD = "x" * 2000


def spam(worker):
    for number in range(RECORDS):
        log.info("w%d %04d %s", worker, number, PAYLOAD)
    return worker


def main():
    logging.basicConfig(filename="many.log", filemode="w", level=logging.INFO, format="%(message)s")
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(4) as pool:
        pending = pool.map_async(spam, range(4))
        for number in range(RECORDS):
            log.info("parent %04d %s", number, PAYLOAD)
        pending.get(timeout=60)
    logging.shutdown()
    with open("many.log") as handle:
        lines = handle.read().splitlines()
    intact = [line for line in lines if line.split(" ")[-1] == PAYLOAD and len(line.split(" ")) == 3]
    print(f"lines {len(lines)} intact {len(intact)}")
    sys.exit(0 if len(intact) == len(lines) else 1)


if __name__ == "__main__":
    main()
