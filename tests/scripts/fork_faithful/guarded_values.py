"""Guarded: globals changed under the guard and in main(), a user module's globals, a
queue made in main(), a second name for a list, and a function defined twice. Under fork every child sees the
parent's values at start() and runs the definition the parent had then."""

import multiprocessing
import os

try:
    from fork_faithful import shared_settings  # python -m fork_faithful.guarded_values
except ImportError:
    import shared_settings  # python fork_faithful/guarded_values.py

SETTINGS = {"scale": 1}
LABELS = []
NAME = None
QUEUE = None
CURRENT_LABELS = None
print("banner: module level")


def describe(tag):
    return f"first describe({tag})"


def report(tag):
    QUEUE.put(
        f"{describe(tag)} scale={SETTINGS['scale']} labels={LABELS} name={NAME} "
        f"mode={shared_settings.MODE} limits={shared_settings.LIMITS} "
        f"one list={CURRENT_LABELS is LABELS}"
    )


def main():
    global NAME, QUEUE, CURRENT_LABELS
    NAME = "set in main"
    CURRENT_LABELS = LABELS
    QUEUE = context.Queue()


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    SETTINGS["scale"] = 10
    LABELS.extend(["cat", "dog"])
    shared_settings.MODE = "fast"
    shared_settings.LIMITS["depth"] = 3
    main()
    process = context.Process(target=report, args=("process",))
    process.start()
    process.join()
    print(QUEUE.get(timeout=30) if process.exitcode == 0 else f"child exit {process.exitcode}")


def describe(tag):
    return f"second describe({tag})"


def square(x):
    return x * x * SETTINGS["scale"], describe(x)


if __name__ == "__main__":
    with context.Pool(2) as pool:
        print(pool.map(square, range(3)))
