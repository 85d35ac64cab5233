"""Guarded: an open file as a Process argument; it cannot be pickled at all."""
import multiprocessing
import os


def write_line(handle):
    handle.write("from the child\n")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with open(os.devnull, "w") as handle:
        process = context.Process(target=write_line, args=(handle,))
        process.start()
        process.join()
        print("exitcode", process.exitcode)
