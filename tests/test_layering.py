"""The store owns SQL (issue 9): no SQL, no SQLite connection and no sqlite import anywhere in
syncd/ or connectors/ outside syncd/store/.

The check reads the source (as sqlite-utils checks its docs): calls of ``.execute``,
``.executemany``, ``.executescript``, any ``.conn`` attribute, imports of sqlite3 or
sqlite_utils, and string literals that hold SQL statements (upper-case keywords, as all of
syncd's SQL is written). The first tests prove the check catches each of these.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "syncd" / "store"

SQL = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\b(?:CREATE|DROP)\s+(?:TEMP\s+|UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b"
    r"|\bALTER\s+TABLE\b|\bPRAGMA\s+\w+|\bBEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b"
    r"|^\s*(?:COMMIT|ROLLBACK)(?:\s+TRANSACTION)?\s*;?\s*$",
    re.S,
)
SQL_CALLS = {"execute", "executemany", "executescript"}
SQL_MODULES = {"sqlite3", "sqlite_utils"}
# Calls named execute that are not SQL: googleapiclient's HttpRequest and BatchHttpRequest.
NOT_SQL = {
    ("connectors/google_quota.py", "request.execute"),
    ("connectors/google_quota.py", "batch.execute"),
}


def violations(source: str, relpath: str) -> list[str]:
    """Each place in ``source`` that speaks SQL or touches a database connection."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{relpath}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute):
            if node.attr in SQL_CALLS and (relpath, ast.unparse(node)) not in NOT_SQL:
                found.append(f"{where}: .{node.attr}(")
            elif node.attr == "conn":
                found.append(f"{where}: .conn")
        elif isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if _sql_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _sql_module(node.module):
            found.append(f"{where}: from {node.module} import")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and SQL.search(node.value)
        ):
            found.append(f"{where}: SQL in a string: {node.value[:60]!r}")
        elif isinstance(node, ast.JoinedStr):  # an f-string, placeholders filled in
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            if SQL.search(text) and not any(
                isinstance(v, ast.Constant) and SQL.search(v.value) for v in node.values
            ):
                found.append(f"{where}: SQL in an f-string: {text[:60]!r}")
    return found


def _sql_module(name: str) -> bool:
    return name.split(".")[0] in SQL_MODULES


def outside_the_store() -> list[Path]:
    files = [p for pkg in ("syncd", "connectors") for p in sorted((ROOT / pkg).rglob("*.py"))]
    return [p for p in files if STORE not in p.parents]


@pytest.mark.parametrize(
    "snippet",
    [
        'store.conn.execute("SELECT 1")',
        "db.sql.executemany(q, rows)",
        "c.executescript(script)",
        "x = store.conn",
        "import sqlite3",
        "from sqlite_utils import Database",
        "import sqlite_utils.db",
        'q = "SELECT address FROM participants"',
        'q = f"SELECT {columns} FROM {table}"',
        "q = f\"DELETE FROM people WHERE key = '{k}'\"",
        'q = "INSERT OR REPLACE INTO digests VALUES (?)"',
        'q = "UPDATE sources SET cursor = NULL"',
        'q = "CREATE TEMP TABLE x (a)"',
        'q = "PRAGMA journal_mode"',
        'q = "BEGIN IMMEDIATE"',
        'q = "COMMIT"',
        'sql.execute("ROLLBACK")',
    ],
)
def test_the_check_catches_sql_outside_the_store(snippet: str) -> None:
    assert violations(snippet, "syncd/example.py"), snippet


def test_the_check_passes_plain_code_prose_and_the_google_client() -> None:
    ok = '''
"""A docstring may say SELECT address FROM participants when it explains the store."""
message = "Select the account from the list, then update the settings."
result = request.execute()
ical = ["BEGIN", "VEVENT", "END"]
'''
    assert violations(ok, "connectors/google_quota.py") == []
    # The Google exception is that file's request objects, not a free pass.
    assert violations("self.conn.execute(q)", "connectors/google_quota.py")
    assert violations("result = request.execute()", "syncd/digest.py")


def test_the_check_sees_the_sql_the_store_holds() -> None:
    """Not vacuous: the store's own modules are full of what the check looks for."""
    facts = STORE / "facts.py"
    assert len(violations(facts.read_text(), "syncd/store/facts.py")) > 20


def test_no_sql_outside_the_store_package() -> None:
    files = outside_the_store()
    assert ROOT / "syncd" / "relationships.py" in files and len(files) > 40
    found = [v for p in files for v in violations(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == []


def test_the_rules_and_the_model_records_do_not_import_the_store() -> None:
    """rules.py and models.py are read by the store's callers and by the store: importing the
    store from them would tie the rules to SQL (and make a cycle)."""
    for name in ("rules.py", "models.py", "identity.py"):
        tree = ast.parse((ROOT / "syncd" / name).read_text())
        imported = {
            n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
        } | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.startswith("syncd.store")}, name
