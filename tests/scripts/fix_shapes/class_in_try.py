"""Unguarded: a class defined in a top-level `try` that also runs the pool."""
import multiprocessing as mp
import os

try:
    @staticmethod
    def unused():
        pass

    class Scaler:
        factor = 3

        def __call__(self, x):
            return x * self.factor

    with mp.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print(pool.map(Scaler(), range(4)))
except KeyboardInterrupt:
    print("interrupted")
