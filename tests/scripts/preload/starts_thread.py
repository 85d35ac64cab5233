"""A module that starts a thread when it is imported (a metrics exporter, say)."""
import threading

stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True, name="exporter").start()
