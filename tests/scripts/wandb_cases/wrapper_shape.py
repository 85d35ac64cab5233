"""Guarded: the wrapped wandb.init is the same object everywhere and returns wandb's run."""
import multiprocessing
import os

import wandb
import wandb.sdk.wandb_init
from wandb import init


def child_run_type(_):
    return type(child_run).__module__ + "." + type(child_run).__qualname__


# Only children bind child_run (a name the parent never has, so none is sent to them).
if multiprocessing.current_process().name != "MainProcess":
    child_run = wandb.init(project="spawnfix-shape")

if __name__ == "__main__":
    print("wrapper", type(wandb.init).__name__)
    print("same", init is wandb.init is wandb.sdk.init is wandb.sdk.wandb_init.init)
    print("signature", wandb.init.__name__, wandb.init.__module__)
    real = wandb.init(project="spawnfix-shape")
    print("isinstance", isinstance(real, wandb.sdk.wandb_run.Run))
    real.finish()
    disabled = wandb.init(mode="disabled")
    expected = type(disabled).__module__ + "." + type(disabled).__qualname__
    context = multiprocessing.get_context(os.environ.get("START_METHOD", "spawn"))
    with context.Pool(1) as pool:
        got = pool.map(child_run_type, [0])
        print("child gets disabled run", got == [expected], got, expected)
