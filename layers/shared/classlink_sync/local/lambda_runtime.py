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

REPO_ROOT = Path(__file__).resolve().parents[4]
FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and our handlers read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 900
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    function_version: str = "$LATEST"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_loaded: dict[str, ModuleType] = {}


def load_handler_module(name: str) -> ModuleType:
    """Load ``functions/<name>/app.py`` once, under a module name of its own."""
    if name not in _loaded:
        path = FUNCTIONS_DIR / name / "app.py"
        if not path.exists():
            raise FileNotFoundError(f"no Lambda handler at {path}")
        module_name = f"_lambda_{name}_app"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


def invoke(name: str, event: dict[str, Any], *, timeout_seconds: int = 900) -> Any:
    """Call ``functions/<name>/app.py``'s ``lambda_handler`` with ``event`` and a fresh context."""
    module = load_handler_module(name)
    return module.lambda_handler(event, LambdaContext(function_name=name, timeout_seconds=timeout_seconds))
