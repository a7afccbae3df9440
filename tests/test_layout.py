"""The package's plan: a few modules on top, a folder per stage, imports that flow one way."""

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "faceclust"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The faceclust modules ``path`` imports, at its top or inside its functions."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("faceclust"):
                found.add(base)
                # "from . import x": x may be a module of its own.
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("faceclust"))
    return found


def test_at_most_ten_modules_sit_at_the_top_of_the_package():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top
    stages = sorted(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file())
    assert stages == ["cli", "clustering", "encode", "faces", "library", "outputs", "photos", "runtime"]


def test_no_module_imports_one_that_imports_it_back():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: sorted(imports_of(path) & modules.keys() - {name}) for name, path in modules.items()}
    # A package's __init__ re-exporting its own modules is not a cycle of stages.
    graph = {name: [t for t in targets if not name.startswith(t + ".")] for name, targets in graph.items()}
    state: dict[str, str] = {}
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in graph[name]:
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [name, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
