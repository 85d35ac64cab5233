"""Unguarded: a main() function called at top level."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


def main():
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print("sum", sum(pool.map(square, range(30))))


record("start")
main()
record("end")
