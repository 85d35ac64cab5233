"""big_dataset.py with the guard: the array is built in main(); the same loader and
checksum (for spawn and forkserver without spawnfix)."""

import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

ROW = 1024


class Rows(Dataset):
    def __init__(self, array):
        self.array = array

    def __len__(self):
        return 64

    def __getitem__(self, index):
        return torch.from_numpy(self.array[index * 997 % len(self.array)].copy())


def main():
    torch.multiprocessing.set_start_method(os.environ.get("START_METHOD", "fork"), force=True)
    data = np.random.default_rng(0).random(int(os.environ.get("BIG_MB", "400")) * 2**20 // 8)
    data = data.reshape(-1, ROW)
    start = time.perf_counter()
    loader = DataLoader(Rows(data), batch_size=8, num_workers=4, persistent_workers=True)
    checksum = 0.0
    for _epoch in range(2):
        for batch in loader:
            checksum += float(batch.sum())
    print(f"loader {time.perf_counter() - start:.3f} s checksum {checksum:.6f}", flush=True)


if __name__ == "__main__":
    main()
