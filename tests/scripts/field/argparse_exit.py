"""Unguarded: argparse, then sys.exit(run(args))."""
import argparse
import multiprocessing
import os
import sys


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


def run(args):
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(args.workers) as pool:
        print("sum", sum(pool.map(square, range(args.count))))
    return 0


record("start")
parser = argparse.ArgumentParser(description="sum of squares")
parser.add_argument("--workers", type=int, default=2)
parser.add_argument("--count", type=int, default=10)
args = parser.parse_args()
sys.exit(run(args))
