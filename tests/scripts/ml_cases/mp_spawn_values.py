"""Guarded: ranks started by torch.multiprocessing that read globals main() set (a run
folder named by uuid, a tensor of random weights). Under fork each rank sees the
parent's; a spawned rank re-imports the script and sees its import-time values."""

import functools
import os
import uuid

import torch
import torch.multiprocessing as mp

RUN = None
WEIGHTS = None


def rank_main(rank, results):
    weights = None if WEIGHTS is None else [round(w, 6) for w in WEIGHTS.tolist()]
    with open(results, "a") as handle:
        handle.write(f"{RUN} {weights}\n")


def main():
    global RUN, WEIGHTS
    RUN = os.path.join("runs", uuid.uuid4().hex)
    os.makedirs(RUN)
    WEIGHTS = torch.rand(3)
    results = os.path.join(RUN, "ranks.txt")
    method = os.environ["START_METHOD"]
    if method == "spawn":
        launch = mp.spawn
    else:
        launch = functools.partial(mp.start_processes, start_method=method)
    launch(rank_main, args=(results,), nprocs=2)
    expected = f"{RUN} {[round(w, 6) for w in WEIGHTS.tolist()]}"
    with open(results) as handle:
        seen = handle.read().splitlines()
    print("ranks:", len(seen), "see the parent's run and weights:", seen == [expected] * 2)
    print("run folders:", len(os.listdir("runs")))


if __name__ == "__main__":
    main()
