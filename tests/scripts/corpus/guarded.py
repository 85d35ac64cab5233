"""Works without spawnfix: guarded, with code after the guard block."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


record("start")
if __name__ == "__main__":
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print("sum", sum(pool.map(square, range(10))))

if "__main__" == __name__:
    process = multiprocessing.get_context(os.environ["START_METHOD"]).Process(
        target=square, args=(3,)
    )
    process.start()
    process.join()
    print("exitcode", process.exitcode)

record("after-guard")
