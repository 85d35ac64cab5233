"""Unguarded: a global whose __getstate__ changes the live object (it pops an attribute).
Fork runs no code of the program's to start a child: the parent's object stays whole."""
import multiprocessing
import os


class Model:
    def __init__(self):
        self.cache = {"a": 1}
        self.weights = [1, 2, 3]

    def __getstate__(self):
        state = self.__dict__
        state.pop("cache", None)  # the bug: the live object loses its cache
        return state


model = Model()


def work(x):
    return len(model.weights) + x


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, range(3)))
print("parent's cache:", model.cache)
