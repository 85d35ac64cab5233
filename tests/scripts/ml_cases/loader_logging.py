"""Guarded: main() configures logging to a file, then DataLoader workers log from
__getitem__. Under fork the workers' records land in the parent's file."""

import logging
import os

import torch
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger("data")


class Numbers(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, index):
        log.info("worker loads %d", index)
        return torch.tensor([index])


def main():
    logging.basicConfig(
        level=logging.INFO, filename="train.log", filemode="w", format="%(name)s %(message)s"
    )
    log.info("parent starts")
    loader = DataLoader(
        Numbers(),
        batch_size=2,
        num_workers=2,
        multiprocessing_context=os.environ.get("START_METHOD", "spawn"),
    )
    total = sum(batch.sum().item() for batch in loader)
    log.info("parent done, total %d", total)


if __name__ == "__main__":
    main()
    with open("train.log") as handle:
        print("".join(sorted(handle)), end="")
