"""Unguarded: a top-level loop that only computes globals (skipped in a child that gets the
parent's values), and one that also sets library state (random.seed: it runs)."""
import multiprocessing
import os
import random

total = 0
squares = []
for i in range(100_000):
    total += i * i
    squares.append(i % 7)

seeded = []
for n in range(3):
    random.seed(n)
    seeded.append(n)


def work(x):
    return total % 1000, len(squares), seeded, x


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, range(2)))
