"""A user module that keeps a cache and saves it at exit (a common pattern)."""
import atexit
import json
import os

CACHE = {}


def save():
    with open(os.environ["CACHE_FILE"], "w") as handle:
        json.dump(CACHE, handle)


atexit.register(save)
