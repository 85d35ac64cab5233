"""Records each module imported after it, in every process that has it: a ``sys.meta_path``
finder writing ``PID import_recorder MODULE`` lines to ``MARKER_FILE``. A forkserver child
inherits the finder from its fork server, so it records what it imports after the fork."""

import os
import sys


class _Recorder:
    def find_spec(self, name, path=None, target=None):
        with open(os.environ["MARKER_FILE"], "a") as handle:
            handle.write(f"{os.getpid()} import_recorder {name}\n")
        return None


sys.meta_path.insert(0, _Recorder())
