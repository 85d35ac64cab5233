"""Unguarded: a DataLoader with two non-persistent workers (new workers every epoch),
4 epochs; the start method from START_METHOD (forkserver by default)."""
import os

import torch
from torch.utils.data import DataLoader, Dataset


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


class Numbers(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, index):
        return torch.tensor([index, index * index])


record("start")
loader = DataLoader(
    Numbers(), batch_size=4, num_workers=2, persistent_workers=False,
    multiprocessing_context=os.environ.get("START_METHOD", "forkserver"),
)
for epoch in range(4):
    print("epoch", epoch, [batch.sum().item() for batch in loader])
record("after-loop")
