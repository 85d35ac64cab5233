"""Unguarded, no start method named: a ProcessPoolExecutor with the platform default."""
from concurrent.futures import ProcessPoolExecutor


def square(x):
    return x * x


with ProcessPoolExecutor(2) as executor:
    print("sum", sum(executor.map(square, range(10))))
