"""Unguarded: Lightning with strategy="ddp_spawn" on two CPU processes."""
import os

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


class Regression(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):
        record(f"train-end rank {self.global_rank} epochs {self.current_epoch}")

    def teardown(self, stage):
        # Let every rank reach the end before any of them closes its gloo connections:
        # a rank that exits early can abort its peer ("terminate called without an
        # active exception"), with or without a main guard.
        if torch.distributed.is_initialized():
            torch.distributed.barrier()


generator = torch.Generator().manual_seed(0)
x = torch.randn(32, 4, generator=generator)
data = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)

record("start")
trainer = pl.Trainer(
    max_epochs=2, accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False,
    enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
)
trainer.fit(Regression(), data)
record("after-fit")
print("fit finished")
