"""``spawnfix fix`` reads a file as Python does and writes it back the same way: its
encoding, BOM and line endings (issue 30)."""

from __future__ import annotations

import pytest

from spawnfix import messages
from spawnfix.guard_fix import SourceFile, plan_fix

TEXT = 'import multiprocessing\n\nNAME = "caf\u00e9"\nprint(NAME)\n'
LATIN_1 = "# -*- coding: latin-1 -*-\n" + TEXT
UNGUARDED = (
    "# -*- coding: latin-1 -*-\n"
    "import multiprocessing\n\n\n"
    "def greet(name):\n"
    '    return "caf\u00e9 " + name\n\n\n'
    'with multiprocessing.get_context("spawn").Pool(2) as pool:\n'
    '    print(ascii(pool.map(greet, ["Zo\u00eb", "Ana\u00efs"])))\n'
)
FIXED = (
    "# -*- coding: latin-1 -*-\n"
    "import multiprocessing\n\n\n"
    "def greet(name):\n"
    '    return "caf\u00e9 " + name\n\n\n'
    'if __name__ == "__main__":\n'
    '    with multiprocessing.get_context("spawn").Pool(2) as pool:\n'
    '        print(ascii(pool.map(greet, ["Zo\u00eb", "Ana\u00efs"])))\n'
)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize(
    ("encoding", "text"),
    [("utf-8", TEXT), ("utf-8-sig", TEXT), ("latin-1", LATIN_1), ("ascii", "x = 1\n")],
)
def test_bytes_round_trip(encoding, text, newline):
    data = text.replace("\n", newline).encode(encoding)
    source = SourceFile.from_bytes(data)
    assert source.text == text
    assert (source.encoding.replace("-", "").lower(), source.newline) == (
        encoding.replace("-", "").replace("latin1", "iso88591").replace("ascii", "utf8"),
        newline,
    )
    assert source.to_bytes(source.text) == data


def test_a_bom_is_kept():
    source = SourceFile.from_bytes(b"\xef\xbb\xbfx = 1\r\n")
    assert source.text == "x = 1\n"
    assert source.to_bytes("y = 2\n") == b"\xef\xbb\xbfy = 2\r\n"


def test_the_first_line_ending_is_the_files():
    source = SourceFile.from_bytes(b"a = 1\r\nb = 2\nc = 3\r")
    assert (source.text, source.newline) == ("a = 1\nb = 2\nc = 3\n", "\r\n")
    assert SourceFile.from_bytes(b"x = 1").newline == "\n"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"x = 'caf\xe9'\n", SyntaxError),  # latin-1 without a declaration
        (b"import os\n\nx = 'caf\xe9'\n", UnicodeDecodeError),  # the same, later on
        (b"# -*- coding: klingon -*-\nx = 1\n", SyntaxError),
        (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", SyntaxError),
        (b"# coding: ascii\nx = '\xc3\xa9'\n", UnicodeDecodeError),
    ],
)
def test_undecodable_files_raise_what_fix_reports(data, error):
    with pytest.raises(error) as raised:
        SourceFile.from_bytes(data)
    message = messages.fix_cannot_read("script.py", raised.value)
    assert message.startswith("script.py: not fixed, cannot read it as Python source: ")
    assert "\n" not in message


def test_a_rewrite_that_does_not_fit_the_encoding_is_reported():
    source = SourceFile.from_bytes(b"# coding: ascii\nx = 1\n")
    with pytest.raises(UnicodeEncodeError) as raised:
        source.to_bytes("x = '\u00e9'\n")
    message = messages.fix_cannot_write("script.py", raised.value)
    assert "\n" not in message and message.startswith("script.py: not fixed")


def test_planner_keeps_a_guarded_script_as_it_is():
    text = SourceFile.from_bytes(FIXED.replace("\n", "\r\n").encode("latin-1")).text
    assert not plan_fix("greet.py", text).changed


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_planner_changes_only_the_guard(newline):
    pytest.importorskip("libcst")
    data = UNGUARDED.replace("\n", newline).encode("latin-1")
    source = SourceFile.from_bytes(data)
    result = plan_fix("greet.py", source.text)
    assert not result.problems
    assert source.to_bytes(result.new_source) == FIXED.replace("\n", newline).encode("latin-1")
