"""A user module with effects at import: it announces itself and opens run.log with "w"."""
print("importing module_effects_lib", flush=True)
_log = open("run.log", "w")  # noqa: SIM115


def log(line):
    _log.write(line + "\n")
    _log.flush()
