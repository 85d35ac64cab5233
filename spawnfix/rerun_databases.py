"""sqlite databases a child's re-run connects to again: connected, read-only until it ends.

Under ``fork`` a child holds the parent's ``conn = sqlite3.connect("data.db")`` (and a
``shelve``, which is an sqlite database since 3.13). A spawn or forkserver child's re-run
connects again; refused (``spawnfix.effect_guard``), the statement is lost and every worker
that uses ``conn`` gets ``NameError``; allowed, the re-run's ``INSERT`` and ``CREATE`` would
repeat the parent's. So, inside the statements the re-run refuses effects for,
``sqlite3.connect`` to a database file that exists connects, with an authorizer that lets
the re-run read and nothing else: a ``CREATE ... IF NOT EXISTS`` of what the file has
already is allowed (it changes nothing), every other change is denied (the statement fails
with ``sqlite3.DatabaseError`` and is skipped, as any refused statement). When the re-run
ends the authorizer is removed: the child's own statements write, as under fork. A database
that does not exist would be created: refused as before; ``":memory:"`` is the child's own.
"""

import os
import sys

from spawnfix.private_api import Patches

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

# The connections made read-only in this re-run.
_read_only: "list[Any]" = []
# ``sqlite3.connect`` replaced now (spawnfix.private_api.Patches).
_replaced = Patches()

_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})
# Pragmas that only set the connection's own behaviour, allowed with a value.
_CONNECTION_PRAGMAS = frozenset(
    {
        "busy_timeout",
        "cache_size",
        "case_sensitive_like",
        "foreign_keys",
        "query_only",
        "recursive_triggers",
        "synchronous",
        "temp_store",
    }
)


def connect_read_only_while(
    refusing: "Callable[[], bool]",
    allowing_effects: "Any",
    refused: "Callable[[str], Exception]",
    after_rerun: "Callable[[Any], None]",
) -> None:
    """Replace ``sqlite3.connect`` (if sqlite3 is imported) for the re-run's statements."""
    module = sys.modules.get("sqlite3")
    if module is None or _replaced.holds(module, "connect"):
        return
    original = module.connect

    def connect(database: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        if not refusing():
            return original(database, *args, **kwargs)
        uri = kwargs.get("uri", args[6] if len(args) > 6 else False)
        path = _database_file(database, bool(uri))
        if path is None:  # in memory: the child's own
            with allowing_effects():
                return original(database, *args, **kwargs)
        if not os.path.isfile(path):
            raise refused(f"connect to {database!r}, which would create it")
        with allowing_effects():
            existing = _schema_names(original, path)
            connection = original(database, *args, **kwargs)
        connection.set_authorizer(_reading_only(module, existing))
        _read_only.append(connection)
        after_rerun(_lift_read_only)
        return connection

    for owner in (module, sys.modules.get("sqlite3.dbapi2")):
        if owner is not None and getattr(owner, "connect", None) is original:
            _replaced.replace(owner, "connect", connect)


def restore() -> None:
    """Put ``sqlite3.connect`` back (the re-run has ended)."""
    _replaced.undo()


def _lift_read_only() -> None:
    from contextlib import suppress

    # None removes an authorizer from 3.11 on; before, one that allows everything.
    lifted = None if sys.version_info >= (3, 11) else _allow_everything
    while _read_only:
        connection = _read_only.pop()
        with suppress(Exception):  # closed by the re-run
            connection.set_authorizer(lifted)


def _allow_everything(*arguments: "Any") -> int:
    return 0  # SQLITE_OK


def _database_file(database: "Any", uri: bool) -> "Optional[str]":
    if isinstance(database, (bytes, os.PathLike)):
        database = os.fsdecode(database)
    if not isinstance(database, str) or database in ("", ":memory:"):
        return None
    if uri:
        if not database.startswith("file:"):
            return None
        path, _, query = database[len("file:") :].partition("?")
        if "mode=memory" in query or not path:
            return None
        from urllib.parse import unquote

        return unquote(path)
    return database


def _schema_names(connect: "Any", path: str) -> "frozenset[Any]":
    # The tables, indexes, views and triggers the file has, and its journal mode, read
    # through a read-only connection of its own (an authorizer may not query its own).
    from urllib.parse import quote

    try:
        reader = connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            rows = reader.execute("select name from sqlite_master").fetchall()
            journal = reader.execute("pragma journal_mode").fetchone()
        finally:
            reader.close()
    except Exception:
        return frozenset()
    names = {row[0] for row in rows}
    if journal:  # setting the journal mode the file has (dbm.sqlite3's "wal") changes nothing
        names.add(("journal_mode", str(journal[0]).lower()))
    return frozenset(names)


def _reading_only(sqlite3: "Any", existing: "frozenset[Any]") -> "Any":
    reading = {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_TRANSACTION,
        getattr(sqlite3, "SQLITE_RECURSIVE", 33),
    }
    creating = {
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_TRIGGER,
    }
    # A CREATE writes its row of the schema table first; the CREATE itself is judged next.
    schema_writes = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
    allowed, denied = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY

    def authorize(action: int, first: "Any", second: "Any", database: "Any", source: "Any") -> int:
        if action in reading or database == "temp":
            return allowed
        if action in schema_writes and first in _SCHEMA_TABLES:
            return allowed
        if action in creating:
            return allowed if first in existing else denied
        if action == sqlite3.SQLITE_PRAGMA:
            name = str(first).lower()
            unchanged = (name, str(second).lower()) in existing
            return allowed if second is None or name in _CONNECTION_PRAGMAS or unchanged else denied
        return denied

    return authorize
