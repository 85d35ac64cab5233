"""Unguarded: wandb.init at top level, then a spawn Pool whose workers use the run."""
import multiprocessing
import os

import wandb

run = wandb.init(project="spawnfix-pool", config={"scale": 3})


def work(x):
    run.log({"worker": x})
    wandb.log({"worker_again": x})
    return x * run.config.scale


with multiprocessing.get_context(os.environ.get("START_METHOD", "spawn")).Pool(2) as pool:
    results = pool.map(work, range(6))
run.log({"total": sum(results)})
run.finish()
print("total", sum(results))
