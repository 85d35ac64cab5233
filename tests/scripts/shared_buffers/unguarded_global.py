"""An unguarded script written for fork: a 40 MiB array (over the value limit) and a dict
holding a 2.4 MB array, built at top level; Pool workers read them and write their own
copies. Each worker says on stderr whether its arrays are mapped from shared memory."""

import multiprocessing as mp
import os
import sys

import numpy as np

mp.set_start_method(os.environ.get("START_METHOD", "fork"))
print("building the data", flush=True)
data = np.arange(5 * 2**20, dtype=np.float64)
table = {"weights": np.full(300_000, 0.5)}
tail = data[5:]  # a view: under fork it shares the data's memory


def shared(array):
    address = array.__array_interface__["data"][0]
    with open("/proc/self/maps") as maps:
        for line in maps:
            low, high = (int(part, 16) for part in line.split()[0].split("-"))
            if low <= address < high:
                return "spawnfix-shared-buffer" in line
    return False


def work(i):
    sys.stderr.write(f"worker arrays shared: {shared(data)} {shared(table['weights'])}\n")
    data[i] += 100  # the worker's own copy
    data[5] = -1.0 - i  # seen through the view, as under fork
    return float(data[i]), float(data[-1]), float(table["weights"].sum()), float(tail[0])


with mp.Pool(2) as pool:
    print(pool.map(work, range(4)))
print("parent", float(data[0]), float(data[3]))
