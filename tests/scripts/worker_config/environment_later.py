"""Guarded: the parent changes os.environ between two children (a run id, a removed
variable); the second child must see the parent's environment at its start()."""
import multiprocessing
import os


def show():
    print("child sees", os.environ.get("RUN_ID"), os.environ.get("TO_REMOVE"), flush=True)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    os.environ["TO_REMOVE"] = "present"
    first = context.Process(target=show)
    first.start()
    first.join()
    os.environ["RUN_ID"] = "run-42"
    del os.environ["TO_REMOVE"]
    second = context.Process(target=show)
    second.start()
    second.join()
