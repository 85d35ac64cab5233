"""Unguarded: TensorBoard's SummaryWriter() at top level, then DataLoader workers. Under
fork the workers never make a writer of their own: one run folder is left behind."""

import os

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter

writer = SummaryWriter()


class Numbers(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor([float(index)])


loader = DataLoader(
    Numbers(),
    batch_size=2,
    num_workers=2,
    multiprocessing_context=os.environ.get("START_METHOD", "spawn"),
)
for step, batch in enumerate(loader):
    writer.add_scalar("batch/sum", batch.sum().item(), step)
writer.close()
print("run folders", len(os.listdir("runs")))
