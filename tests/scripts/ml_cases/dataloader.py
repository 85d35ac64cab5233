"""Unguarded: a DataLoader with worker processes started by spawn or forkserver."""
import os

import torch
from torch.utils.data import DataLoader, Dataset


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


class Numbers(Dataset):
    def __len__(self):
        return 24

    def __getitem__(self, index):
        return torch.tensor([index])


record("start")
loader = DataLoader(
    Numbers(), batch_size=4, num_workers=2, persistent_workers=True,
    multiprocessing_context=os.environ.get("START_METHOD", "spawn"),
)
seen = []
for epoch in range(2):
    for batch in loader:
        seen.extend(batch.flatten().tolist())
record("after-loop")
print("samples", sorted(seen) == sorted(list(range(24)) * 2))
