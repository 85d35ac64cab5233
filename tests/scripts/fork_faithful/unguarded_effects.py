"""Unguarded: top-level work that acts on the world, then a Pool whose workers are replaced
after every task. Under fork the workers never redo any of it and see the parent's values;
each output line and file names the effect it checks."""

import csv
import json
import logging
import multiprocessing
import os
import random
import shutil
import sys
import uuid

print("banner: on stdout")
print("banner: on stderr", file=sys.stderr)


def announce():
    print("helper: ready")


announce()

RUN = os.path.join("runs", uuid.uuid4().hex)
os.makedirs(RUN)

shutil.rmtree("out", ignore_errors=True)
os.makedirs("out")

log = open("run.log", "w")
log.write("parent: header\n")
log.flush()

results = open("results.csv", "w", newline="")
writer = csv.writer(results)
writer.writerow(["x", "square"])
results.flush()

logging.basicConfig(filename="train.log", filemode="w", level=logging.INFO, format="%(message)s")
logging.info("parent: configured")


def build_dataset():
    print("dataset: building")
    with open("dataset.json", "w") as handle:
        json.dump(list(range(5)), handle)
    return list(range(5))


DATASET = build_dataset()
WEIGHTS = [random.random() for _ in range(3)]
MODEL = {"weights": WEIGHTS}  # one list, which the child's re-run shuffles again
random.shuffle(WEIGHTS)
os.environ["RUN_TOKEN"] = uuid.uuid4().hex


def work(x):
    with open(os.path.join("out", f"part{x}.txt"), "w") as handle:
        handle.write(str(x))
    logging.info("worker: handles %d", x)
    one_list = MODEL["weights"] is WEIGHTS
    return x, WEIGHTS, one_list, RUN, len(DATASET), os.environ["RUN_TOKEN"]


pool = multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2, maxtasksperchild=1)
for x, weights, one_list, run, size, token in pool.imap(work, range(4)):
    log.write(f"parent: got {x}\n")
    log.flush()
    writer.writerow([x, x * x])
    results.flush()
    print(f"weights: same={weights == WEIGHTS} model: one list={one_list}")
    print(f"run: same={run == RUN} token: same={token == os.environ['RUN_TOKEN']}")
    print(f"dataset: {size} items")
pool.close()
pool.join()
log.close()
results.close()
logging.info("parent: done")
print("run folders:", len(os.listdir("runs")), "out:", sorted(os.listdir("out")))
