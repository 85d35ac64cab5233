"""Unguarded: a Manager and a Process that fills a managed dict."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def fill(shared):
    shared["child"] = os.getpid()


record("start")
context = multiprocessing.get_context(os.environ["START_METHOD"])
manager = context.Manager()
shared = manager.dict()
worker = context.Process(target=fill, args=(shared,))
worker.start()
worker.join()
print("filled", "child" in shared, "exitcode", worker.exitcode)
manager.shutdown()
record("done")
