"""Invoke the real Lambda handlers in-process, the way the Lambda runtime (or `sam local`) would.

The package never imports a handler (DESIGN.md "Layout"); the local stack loads each
``functions/<name>/app.py`` by path, as the runtime does, and calls ``lambda_handler(event, context)``
with a context object shaped like Lambda's.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]  # local/classlink_local/lambda_runtime.py
FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and our handlers read."""

    function_name: str = "local"
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 900
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_module(path: str | Path, name: str | None = None, *, fresh: bool = False) -> ModuleType:
    """Import a handler file by path, as the runtime does, under a module name of its own.

    The same file is loaded once per process unless ``fresh`` (tests that must not share a
    handler's module-level caches); a missing file is an error that names it."""
    file = Path(path).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"no Lambda handler at {file}")
    name = name or f"_lambda_{file.parent.name}_app" + (f"_{uuid.uuid4().hex}" if fresh else "")
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(file):
        return loaded
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def forget_handlers() -> None:
    """Drop every handler module loaded so far: the next invocation is a cold start (a new local
    stack must not reuse clients and caches a handler built against the previous one)."""
    for name in [n for n in sys.modules if n.startswith("_lambda_") and n.endswith("_app")]:
        del sys.modules[name]


def load_handler_module(name: str, *, fresh: bool = False) -> ModuleType:
    """``functions/<name>/app.py`` as a module."""
    return load_module(FUNCTIONS_DIR / name / "app.py", fresh=fresh)


def invoke(name: str, event: dict[str, Any], *, timeout_seconds: int = 900) -> Any:
    """Call ``functions/<name>/app.py``'s ``lambda_handler`` with ``event`` and a fresh context."""
    module = load_handler_module(name)
    return module.lambda_handler(event, LambdaContext(function_name=name, timeout_seconds=timeout_seconds))
