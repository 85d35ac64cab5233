"""Unguarded, with a fork of multiprocessing (LIBRARY: multiprocess or billiard): a
banner, a run id from uuid, random weights and a results file opened with "w" at top
level, then a Pool. Under fork the workers see the parent's run id and weights, the
banner shows once, and the file holds the parent's lines only."""
import importlib
import os
import random
import uuid

library = importlib.import_module(os.environ["LIBRARY"])

print("banner: once")
RUN_ID = uuid.uuid4().hex
WEIGHTS = [random.random() for _ in range(3)]
results = open("results.txt", "w")
results.write("header\n")
results.flush()


def work(x):
    return x, RUN_ID, sum(WEIGHTS)


context = library.get_context(os.environ["START_METHOD"])
pool = context.Pool(2)
answers = pool.map(work, range(4))
pool.close()
pool.join()
same = all((run, weight) == (RUN_ID, sum(WEIGHTS)) for _, run, weight in answers)
print("workers saw the parent's run id and weights:", same)
results.write(f"{len(answers)} answers\n")
results.close()
