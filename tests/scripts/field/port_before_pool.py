"""Unguarded: a socket bound to a fixed port, then a Pool."""
import multiprocessing
import os
import socket


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


record("start")
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
pool = multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2)
print("squares", pool.map(square, range(8)))
pool.close()
pool.join()
server.close()
record("end")
