"""The repository stands alone: no tracked file refers to a path above the repository root.

A user who clones the repository has nothing beside it, so code, tests, docs and build files may
only read what is inside. This test scans every git-tracked text file for:

- the strings ``../shared`` and ``/work/shared``, and any absolute path under ``/work/``;
- in ``Makefile``, ``pyproject.toml`` and ``.ci/run``: a ``..`` path that, resolved from the file's
  folder, lands outside the repository;
- in Python files: a string literal that is such a ``..`` path, and a ``Path(__file__)`` chain
  (``.parent``, ``.parents[N]``, ``os.path.dirname``) that climbs above the repository root.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

# `../shared` anywhere; `/work/` as the start of an absolute path (not inside a URL or a longer path).
FORBIDDEN = re.compile(r"\.\./shared|/work/shared|(?<![\w.~/-])/work/")
BUILD_FILES = {"Makefile", "pyproject.toml", ".ci/run"}
# A path-like token with a `..` component: `../x`, `a/../../b`, `..`, `$(dirname "$0")/..`.
DOTDOT_TOKEN = re.compile(r"[\w.~/-]*(?<![\w.])\.\.(?![\w.])[\w.~/-]*")
DOTDOT_COMPONENT = re.compile(r"(?:^|/)\.\.(?:/|$)")


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode(
        "utf-8", "surrogateescape"
    )
    return sorted(p for p in out.split("\0") if p and p != THIS and (ROOT / p).is_file())


def read_text(rel: str) -> str | None:
    data = (ROOT / rel).read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", "replace")


def escapes_root(rel_file: str, path: str) -> bool:
    """Whether ``path``, resolved from the folder of ``rel_file`` (repo-relative), leaves the repo."""
    folder = posixpath.dirname(rel_file)
    resolved = posixpath.normpath(posixpath.join(folder, path))
    return resolved == ".." or resolved.startswith("../")


def dotdot_escapes(rel_file: str, text: str) -> list[str]:
    found = []
    for match in DOTDOT_TOKEN.finditer(text):
        token = match.group(0)
        if not DOTDOT_COMPONENT.search(token):
            continue
        before = text[max(0, match.start() - 1) : match.start()]
        if token.startswith("/"):
            if before not in {")", "}"}:
                continue  # an absolute path: the FORBIDDEN pattern judges those
            token = token[1:]  # `$(dirname "$0")/..`, `$(CURDIR)/..`: relative to the file's folder
        if escapes_root(rel_file, token):
            found.append(token)
    return found


def _climb(node: ast.AST) -> int | None:
    """Levels a ``Path(__file__)``/``os.path.dirname(__file__)`` expression climbs, or None."""
    if isinstance(node, ast.Name) and node.id == "__file__":
        return 0
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if node.args and name in {"Path", "PurePath", "abspath", "realpath", "normpath", "resolve", "absolute"}:
            return _climb(node.args[0])
        if node.args and name == "dirname":
            inner = _climb(node.args[0])
            return None if inner is None else inner + 1
        if isinstance(func, ast.Attribute) and func.attr in {"resolve", "absolute"}:
            return _climb(func.value)
        return None
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _climb(node.value)
        return None if inner is None else inner + 1
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "parents"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, int)
    ):
        inner = _climb(node.value.value)
        return None if inner is None else inner + node.slice.value + 1
    return None


def python_escapes(rel_file: str, source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    depth = rel_file.count("/") + 1  # climbing this many levels from the file reaches the root
    found = []
    climbs: dict[int, tuple[int, str]] = {}  # line -> the longest climb on it
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if DOTDOT_COMPONENT.search(node.value) and escapes_root(rel_file, node.value):
                found.append(f"line {node.lineno}: string {node.value!r}")
        elif isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            levels = _climb(node)
            if levels is not None and levels > depth and levels > climbs.get(node.lineno, (0, ""))[0]:
                climbs[node.lineno] = (levels, ast.unparse(node))
    found += [f"line {line}: {code} climbs {levels - depth} above the root" for line, (levels, code) in climbs.items()]
    return found


def offences(rel: str, text: str) -> list[str]:
    found = [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}" for m in FORBIDDEN.finditer(text)]
    if rel in BUILD_FILES:
        found += [f"path {token!r} leaves the repository" for token in dotdot_escapes(rel, text)]
    if rel.endswith(".py"):
        found += python_escapes(rel, text)
    return found


def test_no_tracked_file_refers_above_the_repository_root() -> None:
    report = {}
    for rel in tracked_files():
        text = read_text(rel)
        if text is not None and (found := offences(rel, text)):
            report[rel] = found
    assert not report, "files that refer outside the repository:\n" + "\n".join(
        f"  {rel}: {'; '.join(found)}" for rel, found in report.items()
    )


@pytest.mark.parametrize(
    ("rel", "text", "flagged"),
    [
        ("README.md", "the rules are in `../shared/SPEC.md`", True),
        ("docs/x.md", "see /work/shared/fixtures", True),
        ("docs/x.md", "cd /work/main && make", True),
        ("docs/x.md", "https://example.com/work/items and layers/shared/", False),
        ("Makefile", "include ../common.mk", True),
        ("Makefile", "\tcp build/../out/x dist/", False),
        (".ci/run", 'cd "$(dirname "$0")/.."', False),
        (".ci/run", 'cd "$(dirname "$0")/../.."', True),
        ("pyproject.toml", 'where = ["../lib"]', True),
        ("tests/unit/a/test_x.py", 'DATA = Path(__file__).resolve().parents[3].parent / "shared"', True),
        ("tests/unit/a/test_x.py", 'DATA = Path(__file__).resolve().parents[2] / "fixtures"', False),
        ("tests/unit/a/test_x.py", "D = os.path.dirname(dirname(dirname(dirname(dirname(__file__)))))", True),
        ("tests/unit/a/test_x.py", 'DATA = "../../../../elsewhere/data.csv"', True),
        ("tests/unit/a/test_x.py", 'DATA = "../../fixtures/x.csv"', False),
        ("tests/unit/a/test_x.py", 'URL = "/users/../orgs"', False),
    ],
)
def test_the_scan_flags_what_it_should(rel: str, text: str, flagged: bool) -> None:
    assert bool(offences(rel, text)) is flagged, offences(rel, text)
