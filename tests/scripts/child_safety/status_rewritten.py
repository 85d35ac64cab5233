"""Unguarded: a status file kept open at the top level and rewritten in place by the
parent (seek, dump, truncate) before and after a Pool whose workers never touch it. The
file must hold one JSON document, the last one, as under fork."""
import json
import multiprocessing
import os

status = open("status.json", "w")  # noqa: SIM115


def save(state):
    status.seek(0)
    json.dump(state, status)
    status.truncate()
    status.flush()


def square(x):
    return x * x


save({"stage": "starting", "done": 0})
context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2) as pool:
    results = pool.map(square, range(4))
save({"stage": "finished", "done": len(results)})
status.close()
with open("status.json") as handle:
    print(handle.read())
