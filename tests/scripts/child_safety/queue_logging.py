"""Guarded, spawn written: the logging cookbook's queue pattern. The parent listens on a
multiprocessing queue; each worker adds a QueueHandler to the "worker" logger unless that
logger exists already. Every worker record reaches the listener, with spawnfix as
without it (issue 29, finding 9). THREAD_QUEUE=1: the parent's own "worker" logger holds
a QueueHandler on a thread queue, which a child cannot get."""
import logging
import logging.handlers
import multiprocessing
import os
import queue
import sys


def configure_worker(records):
    if "worker" not in logging.root.manager.loggerDict:
        logger = logging.getLogger("worker")
        logger.addHandler(logging.handlers.QueueHandler(records))
        logger.setLevel(logging.INFO)


def work(records, number):
    configure_worker(records)
    logging.getLogger("worker").info("worker record %d", number)


def main():
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    records = context.Queue()
    output = logging.StreamHandler(sys.stdout)
    output.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    listener = logging.handlers.QueueListener(records, output)
    listener.start()
    if os.environ.get("THREAD_QUEUE"):
        parent_logger = logging.getLogger("worker")
        parent_logger.addHandler(logging.handlers.QueueHandler(queue.Queue()))
        parent_logger.setLevel(logging.INFO)
    else:
        configure_worker(records)
    processes = [context.Process(target=work, args=(records, n)) for n in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    listener.stop()
    print("exit codes", [process.exitcode for process in processes])


if __name__ == "__main__":
    main()
