"""Guarded: ROUNDS Pools in a row whose initializer raises; each must fail fast."""
import multiprocessing
import os


def load_config():
    raise ValueError("config.yaml has no 'model' section")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    stopped = 0
    rounds = int(os.environ["ROUNDS"])
    for _ in range(rounds):
        try:
            with context.Pool(2, initializer=load_config) as pool:
                pool.map(square, range(10))
        except Exception as error:
            stopped += type(error).__name__ == "WorkerStartupError"
    print(f"stopped {stopped} of {rounds}")
