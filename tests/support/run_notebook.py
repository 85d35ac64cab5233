"""Build a small notebook and execute it in a real IPython kernel (nbclient + ipykernel).

Run with the interpreter of the environment under test: the kernel is that environment's
``python3`` kernel, started with this process's environment (``START_METHOD`` and the
``SPAWNFIX*`` variables reach it). Prints one JSON object: each code cell's stdout text,
and its stderr text, in order. Exit code 3 when a cell times out (the kernel is killed).

Usage: python run_notebook.py CELL_TIMEOUT_SECONDS
"""

import json
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

CELLS = [
    "import multiprocessing, os",
    "def square(x):\n    return x * x",
    "class Box:\n    def __init__(self, side):\n        self.side = side\n\n"
    "    def area(self):\n        return self.side * self.side",
    "def area(box):\n    return box.area()",
    'context = multiprocessing.get_context(os.environ["START_METHOD"])\n'
    "with context.Pool(2) as pool:\n"
    "    print(pool.map(square, range(6)))\n"
    "    print(pool.map(area, [Box(side) for side in range(4)]))\n"
    "    boxes = pool.map(Box, range(3))\n"
    "print([type(box).__name__ for box in boxes], isinstance(boxes[0], Box))",
]


def main() -> int:
    """Execute the notebook and print its outputs as JSON."""
    timeout = int(sys.argv[1])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3")
    code = 0
    try:
        client.execute()
    except CellTimeoutError:
        code = 3
    streams = []
    for cell in notebook.cells:
        out = {"stdout": "", "stderr": ""}
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                out[output["name"]] += output["text"]
            elif output.get("output_type") == "error":
                out["stderr"] += f"{output['ename']}: {output['evalue']}\n"
        streams.append(out)
    print(json.dumps(streams))
    return code


if __name__ == "__main__":
    sys.exit(main())
