"""Guarded: main() configures logging or warnings (CASE picks how), then a Pool's workers
log and warn. Under fork the workers have the parent's configuration."""
import logging
import multiprocessing
import os
import sys
import warnings

log = logging.getLogger("train")
CASE = os.environ["CASE"]


def work(x):
    log.debug("worker debug %d", x)
    log.info("worker handles %d", x)
    log.warning("worker warns %d", x)
    try:
        warnings.warn(f"old api {x}", FutureWarning)
        warnings.warn(f"user warning {x}", UserWarning)
    except FutureWarning:
        return f"{x} raised"
    return f"{x} ok"


def reconfigure():
    logging.getLogger().setLevel(logging.ERROR)


def main():
    initializer = None
    if CASE == "file":
        logging.basicConfig(level=logging.INFO, filename="train.log", filemode="w")
    elif CASE == "stdout_format":
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("{levelname}|{name}|{message}", style="{"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        log.propagate = False
    elif CASE == "disable":
        logging.basicConfig(level=logging.INFO)
        logging.disable(logging.WARNING)
    elif CASE == "ignore_warnings":
        warnings.simplefilter("ignore")
    elif CASE == "error_warnings":
        warnings.filterwarnings("error", category=FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
    elif CASE == "initializer_wins":
        logging.basicConfig(level=logging.INFO, filename="train.log")
        initializer = reconfigure
    log.info("starting")
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(2, initializer=initializer) as pool:
        print(pool.map(work, range(3)), flush=True)
    if os.path.exists("train.log"):
        with open("train.log") as handle:
            print("train.log:", sorted(handle.read().splitlines()))


if __name__ == "__main__":
    main()
