"""Guarded, its start method chosen (START_METHOD): the parent's root logger has a
NullHandler; before the second child the parent turns warnings into errors and sets a
variable. Each child configures its own logging with basicConfig and warns."""
import logging
import multiprocessing
import os
import warnings


def child(tag):
    logging.basicConfig(filename="worker.log", level=logging.INFO)  # the child's own
    logging.error("BOOM from child %s", tag)
    try:
        warnings.warn("deprecated thing", DeprecationWarning)
        outcome = "warning did not raise"
    except DeprecationWarning:
        outcome = "warning RAISED"
    print(f"{tag}: {outcome}, MYVAR={os.environ.get('MYVAR')}", flush=True)


if __name__ == "__main__":
    logging.getLogger().addHandler(logging.NullHandler())
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    for tag in ("first", "second"):
        process = context.Process(target=child, args=(tag,))
        process.start()
        process.join()
        warnings.simplefilter("error")
        os.environ["MYVAR"] = "set-after-first-child"
    if os.path.exists("worker.log"):
        with open("worker.log") as handle:
            print("worker.log:", sorted(handle.read().splitlines()))
