"""A user module that the dask script's main() configures: a run folder named by uuid and
random weights. Its tasks run in the dask workers and read what main() set."""

import os
import random
import uuid

RUN = None
WEIGHTS = []


def configure():
    global RUN
    RUN = os.path.join("runs", uuid.uuid4().hex)
    os.makedirs(RUN)
    WEIGHTS.extend(random.random() for _ in range(3))


def work(x):
    return RUN, list(WEIGHTS)
