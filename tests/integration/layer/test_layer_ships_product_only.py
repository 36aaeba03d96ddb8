"""The Lambda layer ships the product only (issue: a lean layer): every module of
``layers/shared/classlink_sync`` imports in an interpreter that has nothing but the standard library,
the layer's own ``requirements.txt`` and the layer's code; the local tooling (``classlink_local``:
emulator, local stack, demo, bench helpers) is not in the layer and nothing in the layer needs it.

The layer's requirements are installed once into ``.venv/layer-only/<hash of requirements.txt>``
(``pip install --target``, as ``sam build`` does) and reused while the file is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
LAYER = ROOT / "layers" / "shared"
PACKAGE = LAYER / "classlink_sync"


def layer_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":  # runs the CLI when imported: checked through its package
            continue
        parts = path.relative_to(LAYER).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.fixture(scope="module")
def layer_site() -> Path:
    requirements = LAYER / "requirements.txt"
    digest = hashlib.blake2b(requirements.read_bytes(), digest_size=8).hexdigest()
    target = ROOT / ".venv" / "layer-only" / digest
    if not (target / ".complete").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
             str(target), "-r", str(requirements)],
            check=True,
        )  # fmt: skip
        (target / ".complete").touch()
    return target


# The one place the product names the local tooling: the CLI adds its commands when it is installed.
PLUGIN_HOOK = PACKAGE / "cli" / "__init__.py"


def test_the_layer_holds_no_local_tooling() -> None:
    assert not (PACKAGE / "local").exists()
    leaks = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path != PLUGIN_HOOK and "classlink_local" in path.read_text(encoding="utf-8")
    ]
    assert leaks == [], f"layer modules that name the local tooling: {leaks}"


def test_every_layer_module_imports_with_only_the_layer_requirements(layer_site: Path) -> None:
    modules = layer_modules()
    assert len(modules) > 40  # the whole package, not a stub
    script = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(LAYER)!r}, {str(layer_site)!r}]\n"
        "failed = {}\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed[name] = f'{type(exc).__name__}: {exc}'\n"
        "dev = [m for m in ('moto', 'oauthlib', 'classlink_local', 'pytest', 'hypothesis') if m in sys.modules]\n"
        "print(json.dumps({'failed': failed, 'dev': dev}))\n"
    )
    # -I: isolated (no user site, no PYTHON* variables); -S: no site-packages, so only the standard
    # library, the layer's requirements and the layer's code can be imported.
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=True, cwd="/"
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, result["failed"]
    assert result["dev"] == []
