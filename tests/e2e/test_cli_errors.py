"""The staff CLI's errors against the local stack (issue 9): one line on stderr naming the argument
or record, exit code 2, no traceback; ``--json`` keeps stdout JSON whatever happens; the client
secret and a URL's ``user:password@`` never show (stdout, stderr, logs, run record, S3 report)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from classlink_local.emulator.datagen import generate
from classlink_local.emulator.server import EmulatorHandle, start_emulator
from classlink_local.stack import reset_cached_settings
from classlink_sync.cli import main
from classlink_sync.store import locks, runs
from classlink_sync.store.context import get_store

from .conftest import day

pytestmark = pytest.mark.e2e

SECRET = "e2e-s3cr3t-never-printed-41c"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def emulator(stack: Any) -> Iterator[EmulatorHandle]:
    dataset = generate(seed=9, users=60, username_prefix="ErrISD")
    with start_emulator(dataset, client_secret=SECRET) as handle:
        yield handle


def add(capsys: pytest.CaptureFixture[str], emulator: EmulatorHandle, district_id: str, tenant: str,
        *extra: str, url: str | None = None) -> tuple[int, str, str]:  # fmt: skip
    schools = ",".join(emulator.dataset.licensed_school_ids)
    return cli(capsys, "districts", "add", district_id, "--tenant-id", tenant, "--oneroster-url",
               url or emulator.base_url, "--client-id", emulator.client_id or "", "--schools", schools,
               "--override-notice", "--enable-from", day(), *extra)  # fmt: skip


def test_R1_onboarding_refuses_url_credentials_and_takes_the_secret_from_a_file_or_the_environment(
    stack: Any, emulator: EmulatorHandle, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with_password = emulator.base_url.replace("http://", "http://admin:hunter2@")
    code, out, err = add(capsys, emulator, "err-url", "9101", "--client-secret", SECRET, url=with_password)
    line = one_line(err)
    assert code == 2 and out == "" and "--oneroster-url" in line and "R1" in line and "Secrets Manager" in line
    assert "hunter2" not in err and SECRET not in err
    assert cli(capsys, "districts", "show", "err-url")[0] == 2  # nothing was written

    code, _, err = add(capsys, emulator, "err-none", "9102")
    assert code == 2 and "--client-secret-file PATH, $ONEROSTER_CLIENT_SECRET or --client-secret" in one_line(err)

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    code, out, err = add(capsys, emulator, "err-file", "9103", "--client-secret-file", str(secret_file))
    assert code == 0 and json.loads(out)["district_id"] == "err-file"
    stored = stack.client("secretsmanager").get_secret_value(SecretId=json.loads(out)["secret_id"])
    assert json.loads(stored["SecretString"])["client_secret"] == SECRET  # the file's content, newline stripped

    monkeypatch.setenv("ONEROSTER_CLIENT_SECRET", SECRET)
    code, out, err = add(capsys, emulator, "err-env", "9104")
    assert code == 0 and json.loads(out)["district_id"] == "err-env"
    code, _, err = add(capsys, emulator, "err-both", "9105", "--client-secret", SECRET)
    assert code == 2 and "give exactly one" in one_line(err)
    monkeypatch.delenv("ONEROSTER_CLIENT_SECRET")

    code, out, err = cli(capsys, "sync", "err-file", "--json", "--date", day())
    assert code == 0 and json.loads(out)["status"] == "succeeded"  # the secret from the file works
    assert SECRET not in out + err + caplog.text


def test_unknown_records_and_bad_input_files_are_one_line(
    stack: Any, emulator: EmulatorHandle, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    code, out, err = cli(capsys, "reset", "nope")
    assert code == 2 and out == "" and "no district 'nope'" in one_line(err)
    assert locks.read_lease("nope") is None  # refused before the lease: no lock item left behind
    code, _, err = cli(capsys, "districts", "show", "nope")
    assert code == 2 and "no district 'nope'" in one_line(err)

    good = tmp_path / "accounts.csv"
    good.write_text("username,email,given_name,family_name,role\nann.b,ann@example.org,Ann,B,teacher\n", "utf-8")
    code, _, err = cli(capsys, "accounts", "import", "--district", "nope", str(good))
    assert code == 2 and "--district" in one_line(err) and "no district 'nope'" in err

    assert add(capsys, emulator, "err-import", "9201", "--client-secret", SECRET)[0] == 0
    binary = tmp_path / "export.xlsx"
    binary.write_bytes(b"PK\x03\x04" + bytes(range(128, 256)) * 8)
    columns = tmp_path / "columns.csv"
    columns.write_text("login,mail\nann,ann@example.org\n", encoding="utf-8")
    for path, problem in (
        (tmp_path / "missing.csv", "no such file"),
        (tmp_path, "is a directory"),
        (binary, "not UTF-8 text"),
        (columns, "missing column(s) username, role"),
    ):
        code, out, err = cli(capsys, "accounts", "import", "--district", "err-import", str(path))
        line = one_line(err)
        assert code == 2 and out == "" and str(path) in line and problem in line
    code, out, _ = cli(capsys, "accounts", "import", "--district", "err-import", str(good))
    assert code == 0 and "imported 1 account(s)" in out


def test_missing_tables_say_run_tables_create(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTRICTS_TABLE", "classlink-local-never-created")
    reset_cached_settings()
    try:
        code, out, err = cli(capsys, "districts", "list")
    finally:
        monkeypatch.undo()
        reset_cached_settings()
    line = one_line(err)
    assert code == 2 and out == ""
    assert "the tables do not exist" in line and "classlink-sync tables create" in line


def test_sync_json_prints_only_json_when_the_sync_fails_or_raises(
    stack: Any, emulator: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(capsys, emulator, "err-json", "9301", "--client-secret", "the-wrong-secret")[0] == 0
    code, out, err = cli(capsys, "sync", "err-json", "--json", "--date", day())
    record = json.loads(out)  # ClassLink refused the credentials: a failed run, and stdout is its JSON only
    assert code == 1 and record["status"] == "failed" and "CredentialsRejected" in record["error"]
    assert "Traceback" not in err and "the-wrong-secret" not in out + err

    code, out, err = cli(capsys, "sync", "err-nowhere", "--json")
    assert code == 2 and json.loads(out) == {"status": "error", "error": one_line(err).split(": ", 1)[1]}
    assert "no district 'err-nowhere'" in err


def test_a_password_in_a_stored_url_never_shows(
    stack: Any, emulator: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """A district stored before the R1 rule with ``user:password@`` in its URL: `districts show`,
    the CLI's output, the run's error, the run record and the S3 report never show the password.
    (The core's log record of the failure still carries the exception, whose message quotes the
    request URL: ``OneRosterError`` should redact it where it is built.)"""
    assert add(capsys, emulator, "err-pass", "9401", "--client-secret", "the-wrong-secret")[0] == 0
    District = get_store().models.District
    item = District.get("district#err-pass", consistent_read=True)
    item.oneroster_url = emulator.base_url.replace("http://", "http://admin:hunter2@")
    item.save()

    code, out, _ = cli(capsys, "districts", "show", "err-pass")
    assert code == 0 and json.loads(out)["oneroster_url"].startswith("http://***@127.0.0.1:")
    code, out, err = cli(capsys, "sync", "err-pass", "--date", day())
    assert code == 1 and "error:" in out
    (record,) = runs.list_runs("err-pass")
    report = json.dumps(runs.load_report(record))
    for text in (out, err, record.error or "", report):
        assert "hunter2" not in text
