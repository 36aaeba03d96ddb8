"""The staff CLI's errors (issue 9): every error a user can cause is one line on stderr naming the
argument, setting or record, exit code 2, never a traceback; a bug is one "internal error" line
(exit 1) with the traceback only under ``--debug``; ``--json`` keeps stdout JSON; no secret and no
URL's ``user:password@`` is ever printed. No AWS here: these errors come before any request, or
from an endpoint where nothing listens."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator

import pytest

from classlink_local.stack import reset_cached_settings
from classlink_sync import aws
from classlink_sync.cli import CLIError, client_secret, main, user_error
from classlink_sync.errors import OnboardingError
from classlink_sync.redact import redact_userinfo, url_has_userinfo
from classlink_sync.rules.onboarding import check_no_url_credentials

AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "DISTRICTS_TABLE",
    "ACCOUNTS_TABLE",
    "RESERVATIONS_TABLE",
    "CLASSES_TABLE",
    "ENROLLMENTS_TABLE",
    "SCHOOLS_TABLE",
    "RUNS_TABLE",
    "LOCKS_TABLE",
    "REPORT_BUCKET",
    "SYNC_QUEUE_URL",
    "SYNC_DLQ_URL",
    "ONEROSTER_CLIENT_SECRET",
    "ONEROSTER_BEARER",
    "CLASSLINK_DEBUG",
)
NAMES = {
    "DISTRICTS_TABLE": "x-districts",
    "ACCOUNTS_TABLE": "x-accounts",
    "RESERVATIONS_TABLE": "x-reservations",
    "CLASSES_TABLE": "x-classes",
    "ENROLLMENTS_TABLE": "x-enrollments",
    "SCHOOLS_TABLE": "x-schools",
    "RUNS_TABLE": "x-runs",
    "LOCKS_TABLE": "x-locks",
    "REPORT_BUCKET": "x-reports",
    "AWS_REGION": "us-east-1",
}
SECRET = "s3cr3t-never-printed-9f2"


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """No AWS variable at all, no credentials file, no instance metadata: nothing reaches AWS."""
    for key in AWS_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_cached_settings()
    aws.reset()
    yield
    reset_cached_settings()
    aws.reset()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    """The error output is exactly one line and no traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["sync", ""], "argument district_id"),
        (["sync", "no spaces please"], "argument district_id"),
        (["runs", "d1", "--limit", "0"], "argument --limit"),
        (["emulator", "--port", "99999"], "argument --port"),
        (["emulator", "--port", "-1"], "argument --port"),
        (["serve", "--port", "70000"], "argument --port"),
        (["stack", "--aws-port", "0"], "argument --aws-port"),
        (["fetch", "--url", "https://h/ims/oneroster/v1p1", "--page-size", "0"], "argument --page-size"),
        (["emulator", "--problem-share", "2"], "argument --problem-share"),
        (
            [
                "districts",
                "add",
                "d1",
                "--tenant-id",
                "7" * 3000,
                "--oneroster-url",
                "https://h/x",
                "--client-id",
                "k",
                "--client-secret",
                SECRET,
                "--schools",
                "all",
            ],
            "argument --tenant-id",
        ),
        (["districts", "add", "d1", "--tenant-id", "not-a-number", "--oneroster-url", "https://h/x"], "--tenant-id"),
        (["accounts", "import", "--district", "", "f.csv"], "argument --district"),
        (["reset", "x" * 65], "argument district_id"),
    ],
)
def test_a_bad_argument_is_one_line_naming_it(capsys, argv, named) -> None:
    code, out, err = cli(capsys, *argv)
    line = one_line(err)
    assert code == 2 and out == ""
    assert named in line and "--help" in line
    assert SECRET not in err
    if "district" in named or "tenant" in named:
        assert "R1" in line  # the rule the value breaks


def test_a_3000_digit_tenant_id_is_not_echoed(capsys) -> None:
    code, _, err = cli(capsys, "districts", "add", "d1", "--tenant-id", "9" * 3000, "--oneroster-url", "https://h",
                       "--client-id", "k", "--client-secret", "s", "--schools", "all")  # fmt: skip
    assert code == 2 and len(one_line(err)) < 300 and "1-64 digits" in err


def test_no_aws_variables_at_all_names_the_missing_ones(capsys) -> None:
    for argv in (["districts", "list"], ["reset", "nope"], ["sync", "d1"], ["runs", "d1"], ["export", "d1"]):
        code, out, err = cli(capsys, *argv)
        line = one_line(err)
        assert code == 2 and out == "", argv
        assert "DISTRICTS_TABLE" in line and "AWS_REGION" in line and "AWS_ENDPOINT_URL" in line


def test_no_credentials_is_one_line_naming_them(capsys, monkeypatch) -> None:
    for key, value in NAMES.items():
        monkeypatch.setenv(key, value)
    reset_cached_settings()
    code, out, err = cli(capsys, "districts", "list")
    line = one_line(err)
    assert code == 2 and out == ""
    assert "no AWS credentials" in line and "AWS_ACCESS_KEY_ID" in line


def test_a_dead_endpoint_names_AWS_ENDPOINT_URL(capsys, monkeypatch) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    # botocore still makes every attempt (DYNAMODB_MAX_ATTEMPTS), without its backoff sleeps between
    # them (random, 3 to 9 s in all): what is tested is the line the last failure gives.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    code, out, err = cli(capsys, "districts", "list")
    line = one_line(err)
    assert code == 2 and out == ""
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:9" in line and "cannot reach AWS" in line


def test_sync_json_error_keeps_stdout_json(capsys) -> None:
    code, out, err = cli(capsys, "sync", "d1", "--json")
    assert code == 2
    assert json.loads(out) == {"status": "error", "error": one_line(err).split(": ", 1)[1]}
    assert "DISTRICTS_TABLE" in json.loads(out)["error"]
    code, out, err = cli(capsys, "sync", "", "--json")  # a usage error: JSON on stdout too
    assert code == 2 and "argument district_id" in json.loads(out)["error"] and "argument district_id" in one_line(err)


def test_accounts_import_file_errors_name_the_file_before_aws(capsys, tmp_path) -> None:
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 4)
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"username,role\x00\nx,student\n")
    columns = tmp_path / "columns.csv"
    columns.write_text("name,mail\nann,ann@example.org\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    cases = {
        str(tmp_path / "missing.csv"): "no such file",
        str(tmp_path): "is a directory",
        str(binary): "not UTF-8 text",
        str(nul): "binary file",
        str(columns): "missing column(s) username, role",
        str(empty): "missing column(s) username, role",
    }
    for path, problem in cases.items():
        code, out, err = cli(capsys, "accounts", "import", "--district", "d1", path)
        line = one_line(err)
        assert code == 2 and out == "", path
        assert path in line and problem in line, line


def test_a_bug_is_one_internal_error_line_and_the_traceback_only_with_debug(capsys, monkeypatch) -> None:
    from classlink_sync.cli import sync

    def broken(args: argparse.Namespace) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(sync, "_export", broken)
    code, out, err = cli(capsys, "export", "d1")
    line = one_line(err)
    assert code == 1 and out == ""
    assert "internal error: KeyError" in line and "--debug" in line
    code, _, err = cli(capsys, "--debug", "export", "d1")
    assert code == 1 and "Traceback" in err and "internal error: KeyError" in err.splitlines()[-1]
    code, _, err = cli(capsys, "export", "d1", "--debug")  # after the command too
    assert code == 1 and "Traceback" in err
    monkeypatch.setenv("CLASSLINK_DEBUG", "1")
    code, _, err = cli(capsys, "export", "d1")
    assert code == 1 and "Traceback" in err


def test_an_error_line_never_prints_the_secret_nor_a_url_password(capsys, monkeypatch) -> None:
    from classlink_sync.cli import sync

    def leaky(args: argparse.Namespace) -> int:
        client_secret(argparse.Namespace(client_secret=SECRET, client_secret_file=None))
        raise RuntimeError(f"GET https://admin:hunter2@h.example/x failed with {SECRET}")

    monkeypatch.setattr(sync, "_export", leaky)
    code, _, err = cli(capsys, "export", "d1")
    assert code == 1 and SECRET not in err and "hunter2" not in err and "https://***@h.example/x" in err


# -- the client secret: exactly one source --------------------------------------------------------


def secret_args(**kw: str | None) -> argparse.Namespace:
    return argparse.Namespace(client_secret=kw.get("flag"), client_secret_file=kw.get("file"))


def test_client_secret_from_exactly_one_source(monkeypatch, tmp_path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    assert client_secret(secret_args(file=str(path))) == SECRET
    assert client_secret(secret_args(flag=SECRET)) == SECRET
    monkeypatch.setenv("ONEROSTER_CLIENT_SECRET", SECRET)
    assert client_secret(secret_args()) == SECRET
    with pytest.raises(CLIError, match=r"\$ONEROSTER_CLIENT_SECRET and --client-secret; give exactly one"):
        client_secret(secret_args(flag="other"))
    monkeypatch.delenv("ONEROSTER_CLIENT_SECRET")
    with pytest.raises(CLIError, match="--client-secret-file PATH, \\$ONEROSTER_CLIENT_SECRET or --client-secret"):
        client_secret(secret_args())
    assert client_secret(secret_args(), required=False) is None
    with pytest.raises(CLIError, match=r"--client-secret-file .*: no such file"):
        client_secret(secret_args(file=str(tmp_path / "nope")))
    (tmp_path / "blank").write_text("\n", encoding="utf-8")
    with pytest.raises(CLIError, match="the file is empty"):
        client_secret(secret_args(file=str(tmp_path / "blank")))


def test_districts_add_needs_one_secret_source_and_says_which(capsys, monkeypatch) -> None:
    common = ["districts", "add", "d1", "--tenant-id", "7", "--oneroster-url", "https://h/ims/oneroster/v1p1",
              "--client-id", "k", "--schools", "all"]  # fmt: skip
    code, _, err = cli(capsys, *common)
    assert code == 2 and "--client-secret-file PATH, $ONEROSTER_CLIENT_SECRET or --client-secret" in one_line(err)
    monkeypatch.setenv("ONEROSTER_CLIENT_SECRET", SECRET)
    code, _, err = cli(capsys, *common, "--client-secret", "other")
    assert code == 2 and "give exactly one" in one_line(err) and SECRET not in err


def test_fetch_takes_the_secret_from_a_file(monkeypatch, tmp_path) -> None:
    from classlink_sync.cli import fetch
    from classlink_sync.oneroster.auth import OAuth1Auth

    path = tmp_path / "secret"
    path.write_text(SECRET, encoding="utf-8")
    parser = argparse.ArgumentParser()
    fetch.register(parser.add_subparsers(dest="command"))
    base = ["fetch", "--url", "https://t/ims/oneroster/v1p1", "--client-id", "k"]
    with fetch.make_client(parser.parse_args([*base, "--client-secret-file", str(path)])) as client:
        assert isinstance(client._http.auth, OAuth1Auth)
    with pytest.raises(CLIError, match="--client-id needs the client secret"):
        fetch.make_client(parser.parse_args(base))


# -- URL credentials (R1) and redaction -----------------------------------------------------------


def test_R1_a_url_with_credentials_is_refused_without_quoting_it(capsys) -> None:
    url = "https://admin:hunter2@t-ca-v2.oneroster.com/ims/oneroster/v1p1"
    code, out, err = cli(capsys, "districts", "add", "d1", "--tenant-id", "7", "--oneroster-url", url,
                         "--client-id", "k", "--client-secret", SECRET, "--schools", "all")  # fmt: skip
    line = one_line(err)
    assert code == 2 and out == ""
    assert "--oneroster-url" in line and "R1" in line and "Secrets Manager" in line
    assert "hunter2" not in err and SECRET not in err
    with pytest.raises(OnboardingError, match="R1"):
        check_no_url_credentials("d1", url)
    for bad in ("https://user@h/x", "https://u:p@ss@h/x", "https://u:pa/ss@h/x", "http://:p@h"):
        assert url_has_userinfo(bad), bad
    for good in ("https://t-ca-v2.oneroster.com/ims/oneroster/v1p1", "http://127.0.0.1:8080/ims/oneroster/v1p1"):
        assert not url_has_userinfo(good) and check_no_url_credentials("d1", good) == good


def test_redact_userinfo_in_free_text() -> None:
    text = "GET https://u:p%40ss@h.example/ims?x=1 failed; retry http://a@b:80/ and mail bob@school.org"
    assert redact_userinfo(text) == (
        "GET https://***@h.example/ims?x=1 failed; retry http://***@b:80/ and mail bob@school.org"
    )
    assert redact_userinfo("https://u:p@ss@h/x") == "https://***@h/x"
    assert redact_userinfo("no url here") == "no url here"


def test_user_error_maps_the_families() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
    from pynamodb.exceptions import ScanError

    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    try:
        dead = ScanError("Failed to scan table", EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"))
        assert "AWS_ENDPOINT_URL=http://127.0.0.1:9" in (user_error(dead) or "")
        missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}, "Scan")
        assert "classlink-sync tables create" in (user_error(ScanError("x", missing)) or "")
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
    assert "no AWS credentials" in (user_error(NoCredentialsError()) or "")
    secret_missing = ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetSecretValue")
    assert user_error(secret_missing) is None  # not a table: a bug or a deployment problem, not mapped
    assert user_error(KeyError("x")) is None
    assert user_error(FileNotFoundError(2, "No such file or directory", "/x.csv")) == (
        "/x.csv: No such file or directory"
    )
