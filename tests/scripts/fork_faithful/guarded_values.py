"""Guarded: globals changed under the guard and in main(), a user module's globals, a
queue made in main(), a second name for a list, a list inside another global, two globals
that hold each other, two names of a user module for one dict, and a function defined
twice. Under fork every child sees the parent's values at start(), each object once, and
runs the definition the parent had then. START_METHOD=default: the program names no start
method (multiprocessing's own Process and Pool)."""

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
TABLE = {"labels": LABELS}
PAIR_A = {"name": "a"}
PAIR_B = {"name": "b"}
print("banner: module level")


def describe(tag):
    return f"first describe({tag})"


def report(tag):
    QUEUE.put(
        f"{describe(tag)} scale={SETTINGS['scale']} labels={LABELS} name={NAME} "
        f"mode={shared_settings.MODE} limits={shared_settings.LIMITS} "
        f"one list={CURRENT_LABELS is LABELS} in table={TABLE['labels'] is LABELS} "
        f"pair={PAIR_A.get('partner') is PAIR_B and PAIR_B.get('partner') is PAIR_A} "
        f"module alias={getattr(shared_settings, 'ALIAS', None) is shared_settings.LIMITS}"
    )


def main():
    global NAME, QUEUE, CURRENT_LABELS
    NAME = "set in main"
    CURRENT_LABELS = LABELS
    PAIR_A["partner"] = PAIR_B
    PAIR_B["partner"] = PAIR_A
    shared_settings.ALIAS = shared_settings.LIMITS
    QUEUE = context.Queue()


if __name__ == "__main__":
    method = os.environ["START_METHOD"]
    context = multiprocessing if method == "default" else multiprocessing.get_context(method)
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
