"""Guarded: main() fills a tensor global, then a Pool worker adds to it in place. Under
fork the worker has its own copy: the parent's tensor keeps its values and stays out of
shared memory."""

import os

import torch
import torch.multiprocessing as mp

WEIGHTS = None


def bump(_):
    WEIGHTS.add_(1)
    return float(WEIGHTS.sum())


def main():
    global WEIGHTS
    WEIGHTS = torch.ones(4)
    with mp.get_context(os.environ["START_METHOD"]).Pool(1) as pool:
        print("worker sees", pool.map(bump, [0, 1], chunksize=1))
    print("parent has", float(WEIGHTS.sum()), "shared", WEIGHTS.is_shared())


if __name__ == "__main__":
    main()
