"""Imports stay one-way (docs/architecture.md): the sub-packages of ``classlink_sync`` form a graph
without cycles, counting every import (module level and inside functions); the planner's modules
import one-way too; and the product never imports the local tooling (``classlink_local``) except
through the CLI's plugin hook."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "layers" / "shared" / "classlink_sync"
PLANNER = PACKAGE / "rules" / "planner"


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks (annotations; never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports at run time (relative imports resolved;
    ``from pkg import submodule`` counts as the submodule only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} if module else set()
            submodules = {name for name in submodules if is_module(name)}
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(module)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str, depth: int) -> str | None:
    """The unit a module belongs to: ``classlink_sync.<first `depth` parts>``."""
    parts = module.split(".")
    if parts[0] != "classlink_sync" or len(parts) < 2:
        return None
    return ".".join(parts[1 : 1 + depth])


def graph(files: list[Path], unit: Callable[[str], str | None]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in files:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        source = unit(name)
        for target in imported_modules(path, package):
            dest = unit(target)
            if source and dest and dest != source:
                edges[source].add(dest)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (enough to name one per loop)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def top_unit(module: str) -> str | None:
    unit = unit_of(module, 1)
    # Top-level modules (errors, settings, aws, redact) are units of their own.
    return unit


def test_sub_packages_import_one_way() -> None:
    edges = graph(sorted(PACKAGE.rglob("*.py")), top_unit)
    assert edges, "no imports found: the test is not looking at the package"
    assert cycles(edges) == []


def test_the_errors_module_imports_nothing_of_the_package() -> None:
    edges = graph(sorted(PACKAGE.rglob("*.py")), top_unit)
    assert edges.get("errors", set()) <= {"redact"}  # redact: a standard-library-only leaf
    assert edges.get("redact", set()) == set()
    assert "errors" in {d for ds in edges.values() for d in ds}  # and the others use it


def test_planner_stages_import_one_way() -> None:
    def stage(module: str) -> str | None:
        prefix = "classlink_sync.rules.planner"
        if not module.startswith(prefix + ".") and module != prefix:
            return None
        rest = module[len(prefix) + 1 :].split(".")
        return rest[0] or "__init__" if module != prefix else "__init__"

    edges = graph(sorted(PLANNER.rglob("*.py")), stage)
    assert cycles(edges) == []
    # The entry point depends on the stages, never the reverse.
    assert not any("__init__" in targets for targets in edges.values())


def test_planner_modules_are_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PLANNER.glob("*.py")}
    assert len(sizes) >= 8
    assert max(sizes.values()) < 400, sizes


def test_the_product_never_imports_the_local_tooling() -> None:
    hook = PACKAGE / "cli" / "__init__.py"
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path != hook and any(m.split(".")[0] == "classlink_local" for m in imported_modules(path, module_name(path)))
    ]
    assert offenders == []
