"""A user module whose state the program sets up: a flag and a connection."""
import sqlite3

_ready = False
_conn = None


def setup(path):
    global _conn, _ready
    _conn = sqlite3.connect(path)
    _ready = True


def count_rows():
    if not _ready:
        return "not ready"
    return _conn.execute("select count(*) from sqlite_master").fetchone()[0]
