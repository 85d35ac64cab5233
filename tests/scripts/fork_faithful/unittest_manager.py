"""A unittest whose setUp makes a Manager().dict() global (CPython #128145): under fork
the child writes into it; under spawn/forkserver the child sees the import-time None.
START_METHOD=default: the test names no start method (Linux 3.14+: forkserver)."""

import multiprocessing
import os
import unittest

SHARED = None


def record(key):
    SHARED[key] = "written by the child"


class ChildWritesSharedDict(unittest.TestCase):
    def setUp(self):
        global SHARED
        method = os.environ["START_METHOD"]
        self.context = multiprocessing if method == "default" else multiprocessing.get_context(method)
        self.manager = self.context.Manager()
        SHARED = self.manager.dict()

    def tearDown(self):
        self.manager.shutdown()

    def test_child_writes_the_shared_dict(self):
        process = self.context.Process(target=record, args=("child",))
        process.start()
        process.join()
        self.assertEqual(dict(SHARED), {"child": "written by the child"})


if __name__ == "__main__":
    unittest.main()
