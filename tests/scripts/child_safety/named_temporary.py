"""Unguarded: a NamedTemporaryFile global written at the top level; workers read it by
name and through the object. Under fork they share the parent's; it is removed once, when
the parent closes it."""
import multiprocessing
import os
import tempfile

scratch = tempfile.NamedTemporaryFile("w+")  # noqa: SIM115
scratch.write("shared text")
scratch.flush()


def work(x):
    with open(scratch.name) as handle:
        return handle.read(), os.path.basename(scratch.name) == NAME


NAME = os.path.basename(scratch.name)
with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, range(2)))
print("still there:", os.path.exists(scratch.name))
scratch.close()
print("removed on close:", not os.path.exists(scratch.name))
