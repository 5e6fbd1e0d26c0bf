"""Layers import downwards only: the rules and the data at the bottom, HTTP glue at the top.

Read from the source with ``ast``, so a lazy import inside a function counts as much as one at
the top of a module (and is refused: imports belong at the top).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "authserver"

BOTTOM = {"clock", "scopes", "policy", "config", "security", "logs"}
#: Each part of ``authserver`` and the parts it may import. Anything unlisted may import nothing.
ALLOWED: dict[str, set[str]] = {
    "clock": set(),
    "scopes": set(),
    "security": set(),
    "logs": set(),
    "policy": {"scopes"},
    "config": {"clock"},
    "models": BOTTOM,
    "extensions": {"models"},
    "ratelimit": {"models"},
    "throttling": BOTTOM | {"extensions", "ratelimit"},
    "services": BOTTOM | {"models", "extensions"},
    "forms": BOTTOM | {"services"},
    "oauth2": BOTTOM | {"models", "extensions", "services", "metrics", "throttling", "ratelimit"},
    "views": BOTTOM
    | {
        "models",
        "extensions",
        "services",
        "oauth2",
        "forms",
        "ratelimit",
        "throttling",
        "storage_watch",
    },
    "cli": BOTTOM | {"models", "extensions", "services", "mail"},
    "sessions_cookie": set(),
    "metrics": set(),
    "storage_watch": {"metrics"},
    "scheduled": BOTTOM | {"extensions", "services", "ratelimit", "mail", "metrics"},
    "mail": BOTTOM | {"services"},
    "migrations": set(),
    "writer_queue": set(),
    "gunicorn_settings": {"config"},
    "launcher": {"__init__", "gunicorn_settings"},
    "wsgi": {"__init__"},
    "__init__": BOTTOM
    | {
        "extensions",
        "ratelimit",
        "oauth2",
        "views",
        "cli",
        "sessions_cookie",
        "metrics",
        "scheduled",
        "storage_watch",
        "writer_queue",
    },
}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, part of authserver) for every import of authserver in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(path.relative_to(ROOT).parent.parts)  # the package this module is in
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if target[:1] != ["authserver"]:
                    continue
                if len(target) == 1:  # from . import x, y
                    found += [(node.lineno, alias.name) for alias in node.names]
                else:
                    found.append((node.lineno, target[1]))
            elif node.module and node.module.split(".")[0] == "authserver":
                parts = node.module.split(".")
                found.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "authserver":
                    found.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_the_layers_below_it(path):
    part = part_of(path)
    allowed = ALLOWED[part] | {part}
    wrong = [(line, target) for line, target in imported_parts(path) if target not in allowed]
    assert wrong == [], f"{path.relative_to(ROOT)} imports upwards: {wrong}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_sit_at_the_top_of_the_module(path):
    """A function-level import hides a cycle instead of removing it."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    nested = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and id(node) not in top
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    assert nested == [], f"{path.relative_to(ROOT)}: imports inside code at lines {nested}"


@pytest.mark.parametrize(
    "package", ["resource_api", "examples/demo_client", "examples/mcp_calendar"]
)
def test_the_resource_api_and_the_demo_client_never_import_the_server(package):
    for path in (ROOT / package).rglob("*.py"):
        assert "authserver" not in _top_level_imports(path), path


def test_the_layer_map_has_no_cycle():
    seen: dict[str, int] = {}

    def depth(part: str, trail: tuple[str, ...] = ()) -> int:
        assert part not in trail, f"cycle: {' -> '.join((*trail, part))}"
        if part not in seen:
            seen[part] = 1 + max((depth(p, (*trail, part)) for p in ALLOWED[part]), default=0)
        return seen[part]

    for part in ALLOWED:
        depth(part)


def test_the_mcp_server_never_imports_the_resource_api():
    """It reaches the API over HTTP only, with exchanged tokens, like any other client."""
    for path in (ROOT / "examples" / "mcp_calendar").rglob("*.py"):
        assert "resource_api" not in _top_level_imports(path), path


def _top_level_imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports absolutely (anywhere in it)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names
