"""Unguarded: the parent's run id (from uuid) as seen by a ProcessPoolExecutor worker, a
Pool started from a thread, and a grandchild (a Process started by a Process). Under
fork all of them see the parent's run id, and the banner shows once."""
import concurrent.futures
import multiprocessing
import os
import threading
import uuid

print("banner: once")
RUN_ID = uuid.uuid4().hex
context = multiprocessing.get_context(os.environ["START_METHOD"])


def run_id(_=None):
    return RUN_ID


def report_to(queue):
    queue.put(RUN_ID)


def start_grandchild(queue):
    grandchild = context.Process(target=report_to, args=(queue,))
    grandchild.start()
    grandchild.join()


with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as executor:
    seen = {"executor": executor.submit(run_id).result(timeout=60)}


def pool_in_thread():
    with context.Pool(1) as pool:
        seen["thread's pool"] = pool.apply(run_id)


thread = threading.Thread(target=pool_in_thread)
thread.start()
thread.join()
queue = context.Queue()
child = context.Process(target=start_grandchild, args=(queue,))
child.start()
seen["grandchild"] = queue.get(timeout=60)
child.join()
for where, value in seen.items():
    print(f"{where}: parent's run id {value == RUN_ID}")
