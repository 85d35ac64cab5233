"""Unguarded: the script edits its own file between two process starts."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def work(tag):
    record(f"work {tag}")


def prepend_comment():
    with open(__file__) as handle:
        source = handle.read()
    with open(__file__, "w") as handle:
        handle.write("# edited while running\n" + source)


context = multiprocessing.get_context(os.environ["START_METHOD"])
first = context.Process(target=work, args=("first",))
first.start()
first.join()
prepend_comment()
second = context.Process(target=work, args=("second",))
second.start()
second.join()
print("exitcodes", first.exitcode, second.exitcode)
