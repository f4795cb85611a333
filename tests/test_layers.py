"""The house has floors (ARCHITECTURE.md): a module imports only from its own floor or below,
and no modules import each other in a loop. Imports inside functions count; imports made
only for type checking (under `if TYPE_CHECKING:`) do not."""

from __future__ import annotations

import ast
from pathlib import Path

from server import ROOT

# Floors from the ground up, as ARCHITECTURE.md names them; a module's floor is that of the
# longest prefix of its path listed here.
FLOORS = {
    "ground": ["server/__init__.py", "server/config.py", "server/database.py",
               "server/i18n.py", "server/places.py", "server/spam.py", "server/dialect.py",
               "server/postgresql.py", "server/storage.py",
               "server/public_contact.py"],
    "records": ["server/content.py", "server/dataset.py", "server/auth.py",
                "server/accounts.py", "server/audit.py", "server/vapid.py", "server/render.py",
                "server/caching.py", "server/listing_form.py", "server/content_forms.py",
                "server/content_kinds.py", "server/suggestions.py", "server/feeds.py"],
    "rules and push": ["server/approvals.py", "server/push/", "server/sms/", "server/alerts.py",
                       "server/bulk_import.py", "server/fingerprints.py"],
    "edge": ["server/middleware/", "server/admin_guard.py"],
    "views": ["server/views/"],
    "app": ["server/services.py", "server/app.py"],
    "commands": ["server/serve.py", "server/head_timeout.py", "server/cli.py",
                 "server/__main__.py", "server/move.py"],
}
ORDER = list(FLOORS)


def floor_of(path: str) -> str:
    best = max(((p, name) for name, prefixes in FLOORS.items() for p in prefixes
                if path == p or (p.endswith("/") and path.startswith(p))),
               key=lambda pair: len(pair[0]), default=None)
    assert best is not None, f"{path} stands on no floor: add it to FLOORS and ARCHITECTURE.md"
    return best[1]


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module under server/."""
    found = {}
    for path in (ROOT / "server").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of this tree that a file imports (a name imported from a package counts as
    its submodule when there is one)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif node.module in known:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, known) - {name} for name, path in known.items()}


def rel(name: str) -> str:
    path = modules()[name]
    return str(path.relative_to(ROOT))


def test_every_module_stands_on_a_floor():
    for name in modules():
        floor_of(rel(name))


def test_no_import_runs_up_a_floor():
    up = []
    for name, targets in graph().items():
        here = ORDER.index(floor_of(rel(name)))
        for target in targets:
            there = ORDER.index(floor_of(rel(target)))
            # A package may hand on its own submodules' names (server.push -> sender).
            if there > here and not target.startswith(name + "."):
                up.append(f"{rel(name)} ({ORDER[here]}) imports {rel(target)} ({ORDER[there]})")
    assert not up, "\n".join(up)


def test_no_modules_import_each_other_in_a_loop():
    edges = graph()
    # A package's __init__ handing on its submodules is not a loop of its own.
    edges = {n: {t for t in ts if not (modules()[n].name == "__init__.py"
                                       and t.startswith(n + "."))}
             for n, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                loops.append(sorted(members))

    for node in edges:
        if node not in index:
            connect(node)
    assert not loops, loops
