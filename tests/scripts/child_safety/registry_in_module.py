"""Unguarded: the script fills a user module's registry at the top level, through the
module and through an imported name. Under fork every worker sees each entry once."""
import multiprocessing
import os

import registry_lib
from registry_lib import register

registry_lib.register("a")
registry_lib.register("b")
register("c")


def work(x):
    return list(registry_lib.REGISTRY)


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, range(2)))
