"""A guarded script timing one wandb.init() + finish() (offline), printed in ms."""

import time

import wandb

if __name__ == "__main__":
    start = time.perf_counter()
    run = wandb.init(project="spawnfix-bench")
    init_done = time.perf_counter()
    run.finish()
    print(f"{(init_done - start) * 1000:.3f}")
