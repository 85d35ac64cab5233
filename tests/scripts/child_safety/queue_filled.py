"""Unguarded: a top-level helper fills a global multiprocessing Queue with 5 tasks; three
Process workers drain it. Under fork the 5 tasks are there once (a child that ran the
helper again would put 5 more each): processed and left over together, 5."""
import multiprocessing
import os

context = multiprocessing.get_context(os.environ["START_METHOD"])
tasks = context.Queue()
done = context.Queue()


def fill_queue():
    for n in range(5):
        tasks.put(n)


fill_queue()


def worker():
    while True:
        item = tasks.get()
        if item is None:
            break
        done.put(item)
    done.put("end")  # after every item this worker put: all of them are read before it


workers = [context.Process(target=worker) for _ in range(3)]
for w in workers:
    w.start()
for w in workers:
    tasks.put(None)
results, ended = [], 0
while ended < len(workers):
    item = done.get(timeout=60)
    if item == "end":
        ended += 1
    else:
        results.append(item)
for w in workers:
    w.join()  # a worker's puts are in the pipe once it has ended
while not tasks.empty():
    item = tasks.get(timeout=60)
    if item is not None:
        results.append(item)
print(len(results), sorted(results))
