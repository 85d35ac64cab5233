"""Print the history rows of an offline wandb run as JSON (run inside a wandb venv).

Usage: python read_wandb_run.py RUN_DIR

A ``.wandb`` file is a LevelDB-style log (a 7-byte file header, then 32 KiB blocks of
records with a 7-byte header: crc32, length, type) holding ``wandb.proto`` ``Record``
messages. Newer wandb releases no longer ship a reader, so the format is read here.
"""

import glob
import json
import os
import struct
import sys

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path):
    """Yield the payload of each logical record in a .wandb file."""
    with open(path, "rb") as handle:
        data = handle.read()
    index = HEADER  # the file header (":W&B", magic, version)
    pending = b""
    while index + HEADER <= len(data):
        left_in_block = BLOCK - index % BLOCK
        if left_in_block < HEADER:
            index += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[index : index + HEADER])
        chunk = data[index + HEADER : index + HEADER + length]
        index += HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        else:
            break


def history_rows(run_dir):
    """The logged rows of the run in ``run_dir``, user keys only."""
    from wandb.proto import wandb_internal_pb2

    (path,) = glob.glob(os.path.join(run_dir, "run-*.wandb"))
    rows = []
    for payload in records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            row = {}
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                if not key.startswith("_"):
                    row[key] = json.loads(item.value_json)
            rows.append(row)
    return rows


if __name__ == "__main__":
    print(json.dumps(history_rows(sys.argv[1])))
