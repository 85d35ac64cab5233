"""Guarded: an object that refuses to pickle (its __reduce__ raises AttributeError) put on
a Queue after a spawn child has started; the queue's feeder hook must see that error
(CPython's test_queue_feeder_on_queue_feeder_error)."""
import multiprocessing
import multiprocessing.queues
import os


def nothing():
    pass


def main():
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    child = context.Process(target=nothing)
    child.start()
    child.join()

    class NotSerializable:
        def __reduce__(self):
            raise AttributeError("no reduce here")

    seen = context.Queue()

    class SafeQueue(multiprocessing.queues.Queue):
        @staticmethod
        def _on_queue_feeder_error(error, obj):
            seen.put((type(error).__name__, str(error), type(obj).__name__))

    queue = SafeQueue(ctx=context)
    queue.put(NotSerializable())
    print("feeder saw", seen.get(timeout=30))
    queue.put("after")
    print("then got", queue.get(timeout=30))
    queue.close()
    queue.join_thread()


if __name__ == "__main__":
    main()
