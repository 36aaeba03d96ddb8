"""``classlink-sync fetch`` (SPEC §1): counts, completeness, rejected records, JSON output."""

from __future__ import annotations

import argparse
import json

import httpx
import pytest

from classlink_sync.cli import CLIError, fetch
from classlink_sync.oneroster.auth import BearerAuth, OAuth1Auth

from .conftest import FakeRoster
from .test_snapshot_and_filters import district


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="classlink-sync")
    fetch.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


ARGS = [
    "fetch",
    "--url",
    "https://t-ca-v2.oneroster.com/ims/oneroster/v1p1",
    "--client-id",
    "k",
    "--client-secret",
    "s",
]


def test_fetch_prints_counts_completeness_and_rejections(make_client, monkeypatch, capsys) -> None:
    data = district()
    data["users"].append({"sourcedId": "bad", "enabledUser": "sometimes"})
    monkeypatch.setattr(fetch, "make_client", lambda args: make_client(FakeRoster(data)))
    args = parse(ARGS)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "users                      4         1         5  yes" in out
    assert "enrollments                3         0         3  yes" in out
    assert "snapshot complete: yes" in out
    assert "users bad: enabledUser:" in out


def test_fetch_incomplete_exits_1_and_writes_json(make_client, monkeypatch, capsys, tmp_path) -> None:
    server = FakeRoster(district(), fault=lambda n, r: httpx.Response(404) if "/courses" in r.url.path else None)
    monkeypatch.setattr(fetch, "make_client", lambda args: make_client(server))
    args = parse([*ARGS, "--out", str(tmp_path)])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "courses" in out and "NO: fetch failed" in out and "remove nothing, R9" in out
    orgs = json.loads((tmp_path / "orgs.json").read_text())
    assert {o["sourced_id"] for o in orgs} == {"d1", "s1"}
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["courses"]["complete"] is False and status["orgs"]["complete"] is True
    assert json.loads((tmp_path / "rejected.json").read_text()) == []


def test_fetch_credentials_rejected_is_a_clear_cli_error(make_client, monkeypatch) -> None:
    server = FakeRoster(district(), fault=lambda n, r: httpx.Response(401))
    monkeypatch.setattr(fetch, "make_client", lambda args: make_client(server))
    args = parse(ARGS)
    with pytest.raises(CLIError, match="credentials rejected"):
        args.func(args)


def test_make_client_chooses_auth_and_requires_credentials(monkeypatch) -> None:
    monkeypatch.delenv("ONEROSTER_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("ONEROSTER_BEARER", raising=False)
    with fetch.make_client(parse(ARGS)) as client:
        assert isinstance(client._http.auth, OAuth1Auth)
    bearer = [
        "fetch",
        "--url",
        "https://oneroster-proxy.classlink.io/app/ims/oneroster/v1p1",
        "--bearer",
        "t",
    ]
    with fetch.make_client(parse(bearer)) as client:
        assert isinstance(client._http.auth, BearerAuth)
    with pytest.raises(CLIError, match="--client-id"):
        fetch.make_client(parse(ARGS[:5]))
