"""Guarded: a long sys.path (104 KB, as Bazel-built programs have) and a snapshot of the
environment before multiprocessing is imported, then a forkserver Pool and a subprocess:
the program's environment is the same after the Pool, and the subprocess starts."""
import os
import subprocess
import sys

sys.path.extend(f"/nonexistent/bazel-out/k8-opt/bin/external/pypi_dep_{i:05d}" for i in range(1800))
before = dict(os.environ)

import multiprocessing  # noqa: E402


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    with context.Pool(2) as pool:
        print(pool.map(square, range(6)))
    print("environment changed:", sorted(set(os.environ.items()) ^ set(before.items())))
    child = subprocess.run([sys.executable, "-c", "print('subprocess ran')"], capture_output=True, text=True, timeout=60)
    print(child.stdout.strip() or child.stderr.strip()[-200:])
