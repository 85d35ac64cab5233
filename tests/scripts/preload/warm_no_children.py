"""Imports multiprocessing and names forkserver, but starts no process: no fork server."""
import multiprocessing
import multiprocessing.forkserver

context = multiprocessing.get_context("forkserver")
print("cpus", multiprocessing.cpu_count() > 0)
print("fork server", multiprocessing.forkserver._forkserver._forkserver_pid)
