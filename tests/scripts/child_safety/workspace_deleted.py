"""Unguarded: a global Workspace whose __del__ removes its folder (a common clean-up
idiom), then a Pool. Under fork the folder outlives the workers: only the parent's own
exit removes it. Prints whether the folder still holds the parent's file after the pool."""
import multiprocessing
import os
import shutil
import tempfile


class Workspace:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="workspace-", dir=os.getcwd())

    def __del__(self):
        shutil.rmtree(self.path, ignore_errors=True)


workspace = Workspace()
with open(os.path.join(workspace.path, "model.bin"), "w") as handle:
    handle.write("weights")


def use(x):
    return os.path.isdir(workspace.path) and x


context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2, maxtasksperchild=1) as pool:  # each worker ends after one task
    print(pool.map(use, range(4), chunksize=1))
print("parent's file kept:", os.path.exists(os.path.join(workspace.path, "model.bin")))
