"""Unguarded: torch.multiprocessing.spawn with a gloo all-reduce on the CPU."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def all_reduce(rank, world_size, port):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    value = torch.tensor([rank + 1.0])
    dist.all_reduce(value)
    record(f"rank {rank} sum {value.item():g}")
    dist.destroy_process_group()


record("start")
mp.spawn(all_reduce, args=(2, int(os.environ["MASTER_PORT"])), nprocs=2)
record("after-spawn")
print("spawn finished")
