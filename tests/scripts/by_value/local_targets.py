"""Guarded: a lambda, a closure and an instance of a local class as Process targets, and
a lambda as an argument. Under fork the process object is never pickled, so all of this
worked there."""
import multiprocessing
import os


def make_closure(greeting):
    def greet(queue, name):
        queue.put(f"{greeting}, {name}")

    return greet


def make_task():
    class Task:
        def __init__(self, value):
            self.value = value

        def __call__(self, queue):
            queue.put(f"task {self.value * 2}")

    return Task(21)


def apply(queue, function, value):
    queue.put(f"applied {function(value)}")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    queue = context.Queue()
    targets = [
        (lambda q: q.put("lambda ran"), ()),
        (make_closure("hello"), ("world",)),
        (make_task(), ()),
        (apply, (lambda x: x + 1, 41)),
    ]
    for target, args in targets:
        process = context.Process(target=target, args=(queue, *args))
        process.start()
        process.join()
        print(queue.get(timeout=30), process.exitcode)
