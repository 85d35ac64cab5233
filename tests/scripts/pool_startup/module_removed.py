"""Guarded: the target comes from a module that the workers cannot import: the parent
imported it from a folder that it then removed."""
import multiprocessing
import os
import shutil
import sys
import tempfile

folder = tempfile.mkdtemp()
with open(os.path.join(folder, "plugin_tasks.py"), "w") as handle:
    handle.write("def square(x):\n    return x * x\n")

if __name__ == "__main__":
    sys.path.insert(0, folder)
    import plugin_tasks

    sys.path.remove(folder)
    shutil.rmtree(folder)
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(2) as pool:
        print(pool.map(plugin_tasks.square, range(10)))
