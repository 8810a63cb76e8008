"""The house's shape, from the code itself: no import cycle, no module over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import sf_progress

PACKAGE = Path(sf_progress.__file__).parent
MAX_LINES = 500


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of the package *name* imports: at the top, in functions, and under ``TYPE_CHECKING``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {target for target in targets if target in modules and target != name}


def _cycles(root: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a cycle of imports."""
    modules = _modules(root)
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return groups


def test_no_import_cycle() -> None:
    """No module of sf_progress imports, even lazily or only for typing, one that imports it back."""
    assert len(_modules(PACKAGE)) > 60
    assert _cycles(PACKAGE) == []


def test_the_cycle_check_would_catch_one(tmp_path: Path) -> None:
    """The check is not vacuous: a type-only import back, and a lazy one, are both cycles."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    (package / "b.py").write_text("from .a import A\n")
    (package / "sub" / "__init__.py").write_text("def f():\n    from .. import c\n")
    (package / "c.py").write_text("from .sub import f\n")
    assert sorted(_cycles(package)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub"]]


def test_no_module_over_500_lines() -> None:
    """Every module fits in 500 lines: a longer one is two concerns."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules(PACKAGE).items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}
