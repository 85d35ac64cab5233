"""Unguarded: top-level calls that mutate globals defined above them (a task list, a
plugin registry filled through a helper). Workers see each entry once, as under fork."""
import multiprocessing
import os

TASKS = []
PLUGINS = {}


def add_task(a, b):
    TASKS.append((a, b))


def register(name):
    PLUGINS.setdefault(name, []).append(name)


def register_all():
    for name in ("csv", "json"):
        register(name)


add_task(2, 3)
register_all()


def work(_):
    return TASKS, PLUGINS


context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2) as pool:
    for seen in pool.map(work, range(2), chunksize=1):
        print(seen)
