"""The original report, modernised: Lightning + WandbLogger, spawn loaders, no guard."""
import os

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
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
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Data(pl.LightningDataModule):
    def setup(self, stage=None):
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(64, 4, generator=generator)
        self.data = TensorDataset(x, x.sum(dim=1, keepdim=True))

    def _loader(self):
        return DataLoader(
            self.data, batch_size=16, num_workers=2, persistent_workers=True,
            multiprocessing_context="spawn",
        )

    def train_dataloader(self):
        return self._loader()

    def val_dataloader(self):
        return self._loader()


record("start")
pl.seed_everything(0)
logger = WandbLogger(project="spawnfix-lightning", offline=True)
trainer = pl.Trainer(
    max_epochs=2, accelerator="cpu", logger=logger, enable_progress_bar=False,
    enable_model_summary=False, enable_checkpointing=False, log_every_n_steps=1,
)
trainer.fit(Regression(), datamodule=Data())
record("after-fit")
print("epochs", trainer.current_epoch)
