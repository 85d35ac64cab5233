"""An unguarded training script: a large numpy array built at top level, a Dataset holding
it, DataLoader(num_workers=4, persistent_workers=True), two epochs of 64 rows each.
START_METHOD picks the start method (set at top level, as such scripts do); BIG_MB the
array's size. Prints the loader's time (from the DataLoader's creation to the end of the
second epoch) and a checksum of every batch."""

import os
import time

import numpy as np
import torch
from descendants_pss import children_pss_mib
from torch.utils.data import DataLoader, Dataset

torch.multiprocessing.set_start_method(os.environ.get("START_METHOD", "fork"), force=True)
ROW = 1024  # float64 values: 8 KiB rows
data = np.random.default_rng(0).random(int(os.environ.get("BIG_MB", "400")) * 2**20 // 8)
data = data.reshape(-1, ROW)


class Rows(Dataset):
    def __init__(self, array):
        self.array = array

    def __len__(self):
        return 64

    def __getitem__(self, index):
        return torch.from_numpy(self.array[index * 997 % len(self.array)].copy())


start = time.perf_counter()
loader = DataLoader(Rows(data), batch_size=8, num_workers=4, persistent_workers=True)
checksum = 0.0
for _epoch in range(2):
    for batch in loader:
        checksum += float(batch.sum())
elapsed = time.perf_counter() - start
print(f"loader {elapsed:.3f} s checksum {checksum:.6f} pss {children_pss_mib():.0f}", flush=True)
