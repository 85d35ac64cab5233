"""Compare spawnfix's text check of main guards with the parse, line by line.

Usage: python check_text_guard.py FILE...  For every line the text check accepts (its
top-level code there is inside ``if __name__ == "__main__":`` with no set_start_method
outside the guard), the parse must say the same. Prints "accepted N" with the number of
accepted lines, then one line per disagreement.
"""

import sys

from spawnfix import main_script

accepted = 0
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        source = handle.read()
    text = main_script.ScriptText(source, path)
    script = main_script.MainScript(
        path, source, main_script.describe_statements(main_script.parse_module(source, path))
    )
    for line in range(1, len(text.lines) + 1):
        if not text.in_main_guard(line):
            continue
        accepted += 1
        statement = script.statement_at(line)
        guard = statement.guard if statement is not None else None
        if guard != main_script.GUARD_MAIN or script.unguarded_start_method_calls():
            print(f"disagree {path}:{line} parse says {guard}")
print("accepted", accepted)
