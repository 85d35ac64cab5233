"""Unguarded: large bytes and str globals, rebound by the parent between two Pools whose
workers each serve one task (every task a freshly started worker)."""
import hashlib
import multiprocessing
import os
import random

random.seed(os.getpid())  # under spawn without the parent's values: other blobs
BLOB = random.randbytes(300_000) if hasattr(random, "randbytes") else os.urandom(300_000)
TEXT = BLOB.hex()


def digest(_):
    return hashlib.sha256(BLOB + TEXT.encode()).hexdigest()[:12]


def expected():
    return hashlib.sha256(BLOB + TEXT.encode()).hexdigest()[:12]


def run_pool():
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(2, maxtasksperchild=1) as pool:
        return set(pool.map(digest, range(4), chunksize=1)) == {expected()}


print("first", run_pool())
BLOB = BLOB[::-1]
TEXT = TEXT + "!"
print("second", run_pool())
