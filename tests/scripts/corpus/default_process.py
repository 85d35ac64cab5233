"""Unguarded, no start method named: a Process with the platform default."""
import multiprocessing


def work(x):
    print("child got", x, flush=True)


process = multiprocessing.Process(target=work, args=(7,))
process.start()
process.join()
print("exitcode", process.exitcode)
