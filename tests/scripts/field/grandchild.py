"""Unguarded: a Process whose target starts a grandchild Process that reports through a
Queue."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def grandchild(queue):
    record("grandchild")
    queue.put("hello from the grandchild")


def child(queue):
    record("child")
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    process = context.Process(target=grandchild, args=(queue,))
    process.start()
    process.join()
    queue.put(f"grandchild exitcode {process.exitcode}")


record("start")
context = multiprocessing.get_context(os.environ["START_METHOD"])
queue = context.Queue()
process = context.Process(target=child, args=(queue,))
process.start()
process.join()
print("child exitcode", process.exitcode)
if process.exitcode == 0:
    print(queue.get(timeout=30))
    print(queue.get(timeout=30))
record("end")
