"""How tests/data/store-before-merge-records.db was made: by syncd as it was before merges
became records (commit c23cf1d, schema m001 + m002, merges in the ``addresses`` table), through
its own CLI. tests/test_merges.py migrates a copy and checks that the merges still hold.

Run from the repository root with that syncd first on the path, e.g.::

    mkdir /tmp/old && git archive c23cf1d syncd connectors | tar -x -C /tmp/old
    python tests/data/make_store_before_merge_records.py /tmp/old
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from builders import Mail, at, write_mbox  # noqa: E402
from conftest import toml_dumps  # noqa: E402

ADA = "Ada Lovelace <ada@example.org>"
MAILS = [
    Mail(sender, [to], at(day), message_id=f"{mid}@test.example")
    for sender, to, day, mid in (
        (ADA, "Bob <bob@work.example>", "2026-03-01", "b1"),
        (ADA, "Bob <bob@home.example>", "2026-03-05", "b2"),
        ("Bob <bob@phone.example>", ADA, "2026-03-09", "b3"),
        (ADA, "Grace Hopper <grace@navy.example>", "2026-03-02", "g1"),
        (ADA, "Grace Hopper <grace.h@home.example>", "2026-03-12", "g2"),
        (ADA, "Alan Turing <alan@bletchley.example>", "2026-03-03", "a1"),
    )
]


def main(old_code: str) -> None:
    root = Path(tempfile.mkdtemp())
    write_mbox(root / "mail.mbox", MAILS)
    config = root / "config.toml"
    me = {"name": "Ada Lovelace", "emails": ["ada@example.org"], "timezone": "UTC"}
    mbox = {"type": "mbox", "path": str(root / "mail.mbox")}
    db = root / "syncd.db"
    config.write_text(toml_dumps({"me": me, "store": {"path": str(db)}, "sources": {"mail": mbox}}))
    check = f"import syncd; assert syncd.__file__.startswith({old_code!r}), syncd.__file__"
    for args in (
        ["sync"],
        ["people", "merge", "bob@work.example", "bob@home.example", "bob@phone.example"],
        ["people", "merge", "grace@navy.example", "grace.h@home.example"],
    ):
        subprocess.run(
            [sys.executable, "-c", f"{check}; from syncd.cli import main; main()",
             "--config", str(config), *args],
            env={**os.environ, "PYTHONPATH": old_code},
            check=True,
            cwd=root,
        )  # fmt: skip
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.close()
    shutil.copyfile(db, HERE / "store-before-merge-records.db")


if __name__ == "__main__":
    main(sys.argv[1])
