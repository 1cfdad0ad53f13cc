"""Shared fixtures: an isolated home, a config writer and a CliRunner bound to it.

Keep this file small and generic; scenario data lives in the test modules (and builders.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncd.cli import cli
from syncd.store import Store

ME = {"name": "Ada Lovelace", "emails": ["ada@example.org", "ada.lovelace@gmail.com"]}


def toml_dumps(data: Mapping[str, Any]) -> str:
    """A minimal TOML writer for test configs: scalars, lists, tables, arrays of tables."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str | Path):
            return json.dumps(str(v))  # JSON string escapes are valid TOML basic strings
        if isinstance(v, date | datetime):
            return v.isoformat()
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    def table(prefix: str, t: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in t.items() if not _is_table(v) and not _is_table_array(v)}
        if prefix and (scalars or not any(_is_table(v) for v in t.values())):
            lines.append(f"[{prefix}]")
        lines.extend(f"{_key(k)} = {value(v)}" for k, v in scalars.items())
        if scalars:
            lines.append("")
        for k, v in t.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if _is_table(v):
                table(name, v)
            elif _is_table_array(v):
                for item in v:
                    lines.append(f"[[{name}]]")
                    lines.extend(f"{_key(ik)} = {value(iv)}" for ik, iv in item.items())
                    lines.append("")

    table("", data)
    return "\n".join(lines) + "\n"


def _is_table(v: Any) -> bool:
    return isinstance(v, Mapping)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs (XDG) and SYNCD_CONFIG away from the real home."""
    home = tmp_path / "home"
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    return home


@dataclass
class Syncd:
    """A syncd installation in a temporary folder, driven through the real CLI."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def store_path(self) -> Path:
        return self.root / "syncd.db"

    def write_config(
        self,
        sources: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        me: Mapping[str, Any] | None = None,
        **sections: Any,
    ) -> Path:
        """Write config.toml: [me] (default: Ada, UTC), [store] in root, the sources, and any
        other top-level sections (rules={...}, digest={...}, people=[{...}])."""
        data: dict[str, Any] = {
            "me": {**ME, "timezone": "UTC", **(me or {})},
            "store": {"path": str(self.store_path)},
        }
        if sources:
            data["sources"] = dict(sources)
        data.update(sections)
        self.config_path.write_text(toml_dumps(data), encoding="utf-8")
        return self.config_path

    def run(self, *args: str, expect: int | None = 0) -> Result:
        result = CliRunner().invoke(
            cli, ["--config", str(self.config_path), *args], catch_exceptions=False
        )
        if expect is not None:
            assert result.exit_code == expect, (
                f"syncd {' '.join(args)}: exit {result.exit_code}, expected {expect}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--format", "json").stdout)

    def open_store(self) -> Store:
        return Store.open(self.store_path)


@pytest.fixture
def syncd(tmp_path: Path, isolated_home: Path) -> Syncd:
    root = tmp_path / "syncd"
    root.mkdir()
    return Syncd(root)
