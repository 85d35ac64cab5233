"""Imports multiprocessing and names forkserver, but starts no process: spawnfix reads the
script (warm start check) and starts no fork server (bench/startup_overhead.py)."""

import multiprocessing

context = multiprocessing.get_context("forkserver")
print(multiprocessing.cpu_count())
