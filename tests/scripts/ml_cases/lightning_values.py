"""Guarded: Lightning ddp_spawn (ddp_fork for the fork reference) on two CPU processes,
whose ranks read a run folder that main() named by uuid and a scale main() set. Under fork
each rank sees them; a spawned rank re-imports the script and sees import-time values."""

import os
import uuid

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

RUN = None
SCALE = 1.0


class Regression(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x) * SCALE, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):
        with open(os.environ["MARKER_FILE"], "a") as handle:
            handle.write(f"rank {self.global_rank} run {RUN} scale {SCALE}\n")

    def teardown(self, stage):
        # Every rank reaches the end before any closes its gloo connections.
        if torch.distributed.is_initialized():
            torch.distributed.barrier()


def main():
    global RUN, SCALE
    RUN = os.path.join("runs", uuid.uuid4().hex)
    os.makedirs(RUN)
    SCALE = 0.5
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=generator)
    data = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)
    strategy = "ddp_fork" if os.environ["START_METHOD"] == "fork" else "ddp_spawn"
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", devices=2, strategy=strategy, logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )
    trainer.fit(Regression(), data)
    with open(os.environ["MARKER_FILE"]) as handle:
        seen = sorted(handle.read().splitlines())
    expected = [f"rank {rank} run {RUN} scale 0.5" for rank in (0, 1)]
    print("ranks see the parent's run and scale:", seen == expected)
    print("run folders:", len(os.listdir("runs")))


if __name__ == "__main__":
    main()
