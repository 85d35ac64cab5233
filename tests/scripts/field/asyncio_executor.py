"""Unguarded: asyncio.run(main()) with run_in_executor on a ProcessPoolExecutor."""
import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


async def main():
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
        jobs = [loop.run_in_executor(executor, square, x) for x in range(10)]
        print("squares", await asyncio.gather(*jobs))


record("start")
asyncio.run(main())
record("end")
