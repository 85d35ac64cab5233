"""Unguarded: an exit handler registered at the top level records the cache it saves,
then a Pool whose workers each end after one task. Under fork the workers never run the
parent's exit handlers: only the parent saves, once, with what it computed."""
import atexit
import json
import multiprocessing
import os

CACHE = {}


def save():
    with open("saves.log", "a") as handle:
        handle.write(json.dumps(CACHE) + "\n")


atexit.register(save)


def square(x):
    return x * x


context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2, maxtasksperchild=1) as pool:
    print(pool.map(square, range(4), chunksize=1))
CACHE.update(answer=42)
