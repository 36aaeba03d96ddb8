"""Fixtures for the Lambda handlers: the real event shapes from events/, the template, a Lambda
context, and the handler modules loaded from functions/*/app.py (as Lambda loads them)."""

from __future__ import annotations

import copy
import functools
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from classlink_local.lambda_runtime import load_handler_module

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt, !If...) as ``{"Fn::X": ...}``."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


@functools.cache
def _parsed_template() -> dict[str, Any]:
    with open(ROOT / "template.yaml", encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CfnLoader)


def load_template() -> dict[str, Any]:
    """template.yaml as data: parsed once per session (pure-Python YAML, about 0.1 s), a deep copy
    for each caller so that no test sees another's changes."""
    return copy.deepcopy(_parsed_template())


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@dataclass
class FakeLambdaContext:
    function_name: str = "classlink-sync-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:classlink-sync-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and no real account: fake credentials, tracing off, the template's metric setup."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "classlink-sync-test",
        "POWERTOOLS_METRICS_NAMESPACE": "ClassLinkSync",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def load_handler(function_dir: str) -> ModuleType:
    """A fresh copy of functions/<dir>/app.py, so module-level caches never leak between tests."""
    return load_handler_module(function_dir, fresh=True)


@pytest.fixture
def handler_loader() -> Iterator[Any]:
    loaded: list[str] = []

    def load(function_dir: str) -> ModuleType:
        module = load_handler(function_dir)
        # Powertools keeps one metric set per process, shared by every Metrics instance: start
        # each handler as a cold start would, without what earlier tests left unflushed.
        if hasattr(module, "metrics"):
            module.metrics.clear_metrics()
        loaded.append(module.__name__)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    """Every EMF document printed on stdout (Powertools Metrics' flush)."""
    blobs = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if "_aws" in blob:
            blobs.append(blob)
    return blobs


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Sum of every EMF metric printed on stdout."""
    totals: dict[str, float] = {}
    for blob in emf_blobs(stdout):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals
