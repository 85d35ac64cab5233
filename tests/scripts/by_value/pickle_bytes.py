"""Guarded: prints a digest of ForkingPickler.dumps of a module function, a class and an
instance (pickled by reference), so runs with and without spawnfix can be compared."""
import hashlib
import multiprocessing
import os
from collections import OrderedDict
from multiprocessing.reduction import ForkingPickler


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def norm(point):
    return (point.x**2 + point.y**2) ** 0.5


if __name__ == "__main__":
    # A spawn child first, so that every spawnfix hook is in place.
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(1) as pool:
        print("norm", pool.map(norm, [Point(3, 4)]))
    for obj in (norm, Point, Point(1, 2), OrderedDict(a=1), os.path.join):
        print(type(obj).__name__, hashlib.sha256(ForkingPickler.dumps(obj)).hexdigest())
