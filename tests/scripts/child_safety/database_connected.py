"""Unguarded: a global sqlite connection (its table made and a row added at the top
level) and a shelve; workers read both. Under fork they share the parent's: one row,
one key; the re-run adds neither again."""
import multiprocessing
import os
import shelve
import sqlite3

conn = sqlite3.connect("data.db")
conn.execute("create table if not exists runs (x)")
conn.execute("insert into runs values (1)")
conn.commit()
cache = shelve.open("cache")
cache["seen"] = 1


def work(x):
    return conn.execute("select count(*) from runs").fetchone()[0], cache["seen"]


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, range(3)))
print("rows:", conn.execute("select count(*) from runs").fetchone()[0], "keys:", len(cache))
cache.close()
