"""classlink_sync.errors: one module with every error a caller may catch, under one base class,
importable without the core (DESIGN.md "Layout"), and still importable from its old modules."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from classlink_sync import errors

ERROR_CLASSES = [
    obj
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == errors.__name__
]

# old module -> the names it must still export (the same class objects as classlink_sync.errors').
OLD_HOMES = {
    "classlink_sync.settings": ["SettingsError"],
    "classlink_sync.sync.service": ["DistrictBusy", "SyncFailed"],
    "classlink_sync.store.districts": ["OnboardingError", "DistrictNotFound"],
    "classlink_sync.store.dynamo": ["StoreRetryExhausted", "TransactionCancelled"],
    "classlink_sync.oneroster.errors": ["OneRosterError", "CredentialsRejected"],
    "classlink_sync.sso.oidc": ["ClassLinkUnavailable", "CodeRejected", "TokenInvalid"],
    "classlink_sync.sso.settings": ["SsoConfigError"],
}

# The built-in base each error had before it moved, so older ``except`` clauses still catch it.
BUILTIN_BASES = {
    "SettingsError": RuntimeError,
    "DistrictBusy": RuntimeError,
    "SyncFailed": RuntimeError,
    "OnboardingError": ValueError,
    "DistrictNotFound": LookupError,
    "StoreRetryExhausted": RuntimeError,
    "TransactionCancelled": RuntimeError,
    "MessageInvalid": ValueError,
    "DispatchIncompleteError": RuntimeError,
}


def test_every_public_error_subclasses_the_base() -> None:
    assert len(ERROR_CLASSES) >= 16
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in ERROR_CLASSES)
    for cls in ERROR_CLASSES:
        assert issubclass(cls, errors.ClassLinkSyncError), cls.__name__


def test_every_error_says_who_raises_it_and_what_to_do() -> None:
    for cls in ERROR_CLASSES:
        if cls is errors.ClassLinkSyncError:
            continue
        doc = inspect.getdoc(cls) or ""
        assert "Raised by" in doc, cls.__name__
        assert len(doc) > 150, cls.__name__  # who raises it and what the caller should do


@pytest.mark.parametrize(("module_name", "names"), sorted(OLD_HOMES.items()))
def test_old_names_are_the_same_classes(module_name: str, names: list[str]) -> None:
    module = importlib.import_module(module_name)
    for name in names:
        assert getattr(module, name) is getattr(errors, name), f"{module_name}.{name}"


def test_errors_keep_their_builtin_bases() -> None:
    for name, base in BUILTIN_BASES.items():
        assert issubclass(getattr(errors, name), base), name
    assert issubclass(errors.CredentialsRejected, errors.OneRosterError)


def test_errors_keep_their_details() -> None:
    rejected = errors.CredentialsRejected("refused", url="https://rs.example/users", status=401, attempts=1)
    assert (rejected.status, rejected.url) == (401, "https://rs.example/users")
    assert "status=401" in str(rejected)
    assert errors.TransactionCancelled(["None", "ConditionalCheckFailed"]).reasons == ["None", "ConditionalCheckFailed"]
    assert errors.SsoConfigError("SESSION_KEY").setting == "SESSION_KEY"
    assert str(errors.SsoConfigError("SESSION_KEY")) == "SSO setting SESSION_KEY is not set"
    assert errors.TokenInvalid("expired").reason == "expired"


# Leaf modules of the package that import only the standard library themselves (checked below).
STDLIB_ONLY_LEAVES = ("classlink_sync.redact",)


@pytest.mark.parametrize("module_file", [errors.__file__, str(Path(errors.__file__).with_name("redact.py"))])
def test_errors_module_imports_only_the_standard_library(module_file: str) -> None:
    """Imports outside ``if TYPE_CHECKING:`` (which never runs) are all standard library, or a
    leaf of the package that is standard library only itself."""
    tree = ast.parse(Path(module_file).read_text(encoding="utf-8"))
    imported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                imported += [alias.name for alias in sub.names]
            elif isinstance(sub, ast.ImportFrom):
                imported.append(sub.module or "")
    assert imported, "the check found no imports at all"
    for name in imported:
        assert name.split(".")[0] in sys.stdlib_module_names or name in ("__future__", *STDLIB_ONLY_LEAVES), name


def test_importing_errors_loads_none_of_the_core() -> None:
    """A fresh interpreter: importing classlink_sync.errors loads no store, client or SDK."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import classlink_sync.errors\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "classlink_sync.errors" in loaded  # the check would see what it loads
    forbidden = ("classlink_sync.store", "classlink_sync.oneroster", "pynamodb", "httpx", "boto", "pydantic")
    assert [m for m in loaded if m.startswith(forbidden)] == []
    assert [m for m in loaded if m.startswith("classlink_sync")] == [
        "classlink_sync",
        "classlink_sync.errors",
        *STDLIB_ONLY_LEAVES,
    ]
