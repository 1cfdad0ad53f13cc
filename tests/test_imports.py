"""The import graph of syncd/ and connectors/, drawn from the source, against the parts and
arrows of docs/architecture.md.

Every ``import`` counts: at module level, inside a function, under ``TYPE_CHECKING``. What
``importlib.import_module`` loads from a string (the registry's way to reach a connector) is
not an import edge, by design. The table of parts is read from docs/architecture.md itself,
so the document and this test cannot drift apart.

Rules that other work is still bringing about are strict xfails whose reason names the imports
left: the test turns red when they are gone, and the xfail is then removed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("syncd", "connectors")
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    where: str  # path:line of the import statement

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} -> {self.imported}"


@dataclass(frozen=True)
class Part:
    name: str
    patterns: tuple[str, ...]
    may_import: frozenset[str]
    never: tuple[str, ...]


# ------------------------------------------------------------------------------ the graph
def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported_names(module: str, path: Path, node: ast.AST) -> list[str]:
    """The dotted names one import statement asks for (for ``from a import b``: ``a.b``,
    which resolves to module ``a.b`` if it is one, else to ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [f"{target}.{alias.name}" for alias in node.names]


@cache
def graph() -> tuple[Edge, ...]:
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[tuple[str, str], Edge] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported_names(module, path, node):
                target = resolve(name)
                if target is None or target == module:
                    continue  # outside our packages, or `from syncd import __version__`-like
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                edges.setdefault((module, target), Edge(module, target, where))
    return tuple(sorted(edges.values(), key=lambda e: (e.importer, e.imported)))


def _cycles(nodes: Iterable[str], arrows: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component with more than one member (Tarjan), as one circle
    through it: a list of nodes whose last one imports the first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(arrows.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [_circle_in(set(c), arrows) for c in components]


def _circle_in(component: set[str], arrows: dict[str, set[str]]) -> list[str]:
    """A shortest circle through the component's smallest member (breadth-first)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(arrows.get(v, set()) & component):
            if w == start:
                return paths[v]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError(f"no circle through {start}")


def _describe(
    circle: list[str], edges: Iterable[Edge], key: dict[str, str] | None = None, most: int = 8
) -> str:
    """One circle, each step with (at most ``most`` of) the import statements that make it."""
    key = key or {}
    lines = [" -> ".join([*circle, circle[0]])]
    for a, b in zip(circle, [*circle[1:], circle[0]], strict=True):
        step = [
            e
            for e in edges
            if key.get(e.importer, e.importer) == a and key.get(e.imported, e.imported) == b
        ]
        lines += [f"    {e}" for e in step[:most]]
        if len(step) > most:
            lines.append(f"    ... and {len(step) - most} more imports from {a} of {b}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the parts
@cache
def parts() -> tuple[Part, ...]:
    """The table under "What each part may import" in docs/architecture.md."""
    text = ARCHITECTURE.read_text()
    section = text.split("## What each part may import", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # no header
    found = []
    for row in rows:
        name, modules, may, never = (cell.strip() for cell in row.strip("|").split("|"))
        found.append(
            Part(
                name=name,
                patterns=tuple(re.findall(r"`([^`]+)`", modules)),
                may_import=frozenset(_names(may)),
                never=tuple(_names(never)),
            )
        )
    assert found, f"{ARCHITECTURE}: no table of parts under 'What each part may import'"
    return tuple(found)


def _names(cell: str) -> list[str]:
    cell = re.sub(r"\([^)]*\)", "", cell)  # "(it names them in strings)" is for the reader
    return [n.strip() for n in cell.split(",") if n.strip() and n.strip() != "any other part"]


def part_of(module: str) -> str | None:
    for part in parts():
        if any(fnmatchcase(module, pattern) for pattern in part.patterns):
            return part.name
    return None


def _part_by_name(name: str) -> Part:
    return next(p for p in parts() if p.name == name)


def _disallowed(importer_part: str) -> list[Edge]:
    allowed = _part_by_name(importer_part).may_import | {importer_part}
    return [
        e
        for e in graph()
        if part_of(e.importer) == importer_part and part_of(e.imported) not in allowed
    ]


# ------------------------------------------------------------------------------ the tests
def test_the_graph_sees_module_level_and_function_level_imports() -> None:
    """The graph is drawn right: a known module-level import, a known import inside a
    function, and a relative one resolve to the modules they name."""
    edges = {(e.importer, e.imported) for e in graph()}
    assert ("syncd.daemon", "syncd.schedule") in edges  # module level
    assert ("syncd.daemon", "syncd.sync") in edges  # inside Daemon._sync_due
    assert ("syncd.cli", "syncd.commands_people") in edges  # `from syncd import commands_people`
    assert ("syncd.demo_data", "syncd.demo_data.cast") in edges  # `from . import ...`


def test_the_architecture_table_is_consistent() -> None:
    names = [p.name for p in parts()]
    assert len(names) == len(set(names)), f"a part is named twice: {names}"
    for p in parts():
        unknown = (p.may_import | set(p.never)) - set(names)
        assert not unknown, f"part {p.name!r} names parts that do not exist: {sorted(unknown)}"
        both = p.may_import & set(p.never)
        assert not both, f"part {p.name!r} both may and never imports {sorted(both)}"


def test_every_module_belongs_to_a_part() -> None:
    lost = [m for m in _modules() if part_of(m) is None]
    assert not lost, (
        f"modules in no part of {ARCHITECTURE.relative_to(ROOT)} (add them to its table): "
        + ", ".join(lost)
    )


def test_no_module_imports_itself_in_a_circle() -> None:
    arrows: dict[str, set[str]] = {}
    for e in graph():
        arrows.setdefault(e.importer, set()).add(e.imported)
    circles = _cycles(_modules(), arrows)
    assert not circles, "import circles between modules:\n" + "\n".join(
        _describe(c, graph()) for c in circles
    )


def test_no_part_imports_itself_in_a_circle() -> None:
    key = {m: part_of(m) or m for m in _modules()}
    arrows: dict[str, set[str]] = {}
    for e in graph():
        if key[e.importer] != key[e.imported]:
            arrows.setdefault(key[e.importer], set()).add(key[e.imported])
    circles = _cycles(set(key.values()), arrows)
    assert not circles, "import circles between parts:\n" + "\n".join(
        _describe(c, graph(), key) for c in circles
    )


SEAM_LEFT = (
    "left for the registry (seam): syncd.config, syncd.sync, syncd.delivery and "
    "syncd.commands_setup (the auth command) import connectors.base"
)


@pytest.mark.xfail(strict=True, reason=SEAM_LEFT)
def test_syncd_and_connectors_do_not_import_each_other() -> None:
    key = {m: m.split(".")[0] for m in _modules()}
    arrows: dict[str, set[str]] = {}
    for e in graph():
        if key[e.importer] != key[e.imported]:
            arrows.setdefault(key[e.importer], set()).add(key[e.imported])
    circles = _cycles(PACKAGES, arrows)
    assert not circles, "the two packages import each other:\n" + "\n".join(
        _describe(c, graph(), key) for c in circles
    )


# Parts whose imports are still being changed by others, and what is left.
LEFT = {
    "config": SEAM_LEFT,
    "engine": SEAM_LEFT,
    "delivery": SEAM_LEFT + "; syncd.delivery imports syncd.sync (make_context) to send "
    "through a source instead of a Sender from the registry",
    "CLI": SEAM_LEFT,
}


def _part_params() -> list[object]:
    return [
        pytest.param(
            p.name,
            id=p.name,
            marks=[pytest.mark.xfail(strict=True, reason=LEFT[p.name])] if p.name in LEFT else [],
        )
        for p in parts()
    ]


@pytest.mark.parametrize("part", _part_params())
def test_each_part_imports_only_what_the_architecture_allows(part: str) -> None:
    bad = _disallowed(part)
    allowed = ", ".join(sorted(_part_by_name(part).may_import)) or "no other part"
    assert not bad, f"{part} may import only {allowed}, but:\n" + "\n".join(
        f"    {e} ({part_of(e.imported)})" for e in bad
    )


def test_nothing_imports_the_command_line() -> None:
    """The CLI's modules are imported by the CLI alone (no command module imports syncd.cli,
    so the group and its commands cannot form a circle)."""
    bad = [
        e
        for e in graph()
        if part_of(e.imported) == "CLI"
        and (part_of(e.importer) != "CLI" or e.imported == "syncd.cli")
        and e.importer != "syncd.__main__"
    ]
    assert not bad, "imports of the command line:\n" + "\n".join(f"    {e}" for e in bad)


def test_a_circle_is_found_and_shown_with_its_imports() -> None:
    """The circle finder itself: a three-module circle beside a clean branch."""
    arrows = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set()}
    edges = [Edge("a", "b", "a.py:1"), Edge("b", "c", "b.py:2"), Edge("c", "a", "c.py:3")]
    circles = _cycles(arrows, arrows)
    assert circles == [["a", "b", "c"]]
    assert _describe(circles[0], edges) == (
        "a -> b -> c -> a\n    a.py:1: a -> b\n    b.py:2: b -> c\n    c.py:3: c -> a"
    )
