"""Unguarded: a file opened "r+b" and mapped with mmap, and a tempfile.TemporaryFile the
parent wrote to; the workers read both. They get them, as under fork (issue 29, finding
3: both names used to be missing in the workers)."""
import mmap
import multiprocessing
import os
import tempfile

with open("data.bin", "wb") as handle:
    handle.write(b"abcdefgh" * 512)
data = open("data.bin", "r+b")  # noqa: SIM115
mapped = mmap.mmap(data.fileno(), 0)
scratch = tempfile.TemporaryFile()  # noqa: SIM115
scratch.write(b"scratch contents")
scratch.flush()


def work(x):
    return mapped[x : x + 4].decode(), os.pread(scratch.fileno(), 7, 0).decode()


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, [0, 4]))
with open("data.bin", "rb") as handle:
    print("data.bin unchanged:", handle.read() == b"abcdefgh" * 512)
