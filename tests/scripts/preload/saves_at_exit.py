"""Guarded: a forkserver Pool, then the program fills a user module's cache, which that
module saves at exit. Only the program's own exit may write the file."""
import multiprocessing

import preload.cache_store as cache_store


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    with context.Pool(2) as pool:
        print(pool.map(square, range(6)))
    cache_store.CACHE.update({f"key{i}": i for i in range(5)})
