"""A DataLoader's workers write into the dataset's numpy array (each its own copy, as
under fork): argv[1] is the workers' start method. Prints the batches, and the parent's
array after the epoch; each worker says on stderr whether its array is shared memory."""

import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class Rows(Dataset):
    def __init__(self, array):
        self.array = array

    def __len__(self):
        return 8

    def __getitem__(self, index):
        info = torch.utils.data.get_worker_info()
        if index < 2:
            address = self.array.__array_interface__["data"][0]
            with open("/proc/self/maps") as maps:
                shared = any(
                    int(line.split("-")[0], 16) <= address < int(line.split()[0].split("-")[1], 16)
                    and "spawnfix-shared-buffer" in line
                    for line in maps
                )
            sys.stderr.write(f"worker {info.id} array shared: {shared}\n")
        self.array[index] += 1000.0  # a write into this worker's own copy
        return float(self.array[index].sum()), float(self.array[(index + 1) % 8].sum())


def main():
    array = np.ones((8, 400_000))  # 25.6 MB
    loader = DataLoader(
        Rows(array), batch_size=2, num_workers=2, multiprocessing_context=sys.argv[1]
    )
    print([[round(float(x)) for x in part] for batch in loader for part in batch])
    print("parent's array", float(array.sum()))


if __name__ == "__main__":
    main()
