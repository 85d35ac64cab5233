"""A module that records every process that imports it (the preload test's probe)."""
import os

with open(os.environ["MARKER_FILE"], "a") as handle:
    handle.write(f"{os.getpid()} {__name__} imported\n")
