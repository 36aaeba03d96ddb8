"""``classlink-sync``: the staff command line (onboarding, sync now, review runs, export).

It ships in the Lambda layer with the runtime code. Each command group lives in its own module with
``register(subparsers)``; a command's handler is ``args.func(args) -> int`` (the exit code). Heavy
imports happen inside the handlers, so the CLI starts fast.

The engineer's local tooling (emulator, local stack, demo, ``serve``, ``tables create``, ``daily``)
is the separate ``classlink_local`` package, installed with the ``dev`` extra and not shipped in the
layer: when it is importable its commands are added to the same parser.

Errors (issue 9): every error a user can cause is one line on stderr naming the argument, setting or
record (and the SPEC rule where one applies), exit code 2, never a traceback. ``main`` maps the error
families at one place (``user_error``): a ``CLIError`` or any ``ClassLinkSyncError`` (its message),
AWS unreachable, no or refused credentials, missing tables, an input file that cannot be read. Any
other exception is a bug: one line "internal error: ..." and exit code 1, with the traceback only
under ``--debug`` or ``CLASSLINK_DEBUG=1``. With ``--json`` stdout carries only JSON, an error
included (``{"status": "error", "error": ...}``); logs go to stderr. A URL's userinfo and the
client secret given to the command are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

# Modules under classlink_sync.cli that register the staff commands, in help order.
COMMAND_MODULES: tuple[str, ...] = ("districts", "sync", "fetch", "portal", "calendar", "undo")
# The local tooling's command modules (``classlink_local.cli.COMMAND_MODULES``), when installed.
LOCAL_TOOLS_PACKAGE = "classlink_local.cli"
LOCAL_HOSTS = ("http://127.0.0.1", "http://localhost", "http://[::1]")
DEBUG_VARIABLE = "CLASSLINK_DEBUG"
CLIENT_SECRET_VARIABLE = "ONEROSTER_CLIENT_SECRET"  # nosec B105 # a variable's name, not a secret
TENANT_ID_MAX_DIGITS = 64


class CLIError(Exception):
    """A user-facing error: printed as one line naming the setting or record, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with a usage error as one line on stderr (exit code 2), not the usage block."""

    usage_error: str | None = None  # the last one, for ``--json`` (set on the class: subparsers too)

    def error(self, message: str) -> NoReturn:
        Parser.usage_error = f"{self.prog}: {_one_line(message)}"
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="classlink-sync", description="This is School's ClassLink integration (rostering and SSO).")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"print the traceback of an internal error (also: {DEBUG_VARIABLE}=1)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [f"{__name__}.{name}" for name in COMMAND_MODULES]
    try:
        local_tools = importlib.import_module(LOCAL_TOOLS_PACKAGE)
    except ImportError:  # the layer alone: staff commands only
        local_tools = None
    if local_tools is not None:
        modules += [f"{LOCAL_TOOLS_PACKAGE}.{name}" for name in local_tools.COMMAND_MODULES]
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


# -- argument types: a bad value is a usage error naming the argument ---------------------------


def district_id_arg(value: str) -> str:
    """A district id as the store keys it (R1: ``rules.onboarding.DISTRICT_ID_RE``)."""
    from classlink_sync.rules.onboarding import DISTRICT_ID_RE

    if not DISTRICT_ID_RE.match(value):
        shown = repr(value) if len(value) <= 80 else f"of {len(value)} characters"
        raise argparse.ArgumentTypeError(
            f"R1: a district id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; not {shown}"
        )
    return value


def tenant_id_arg(value: str) -> str:
    """R1: a ClassLink tenant id, 1-64 digits (ClassLink sends it as a JSON number; it is kept as
    a string)."""
    text = value.strip()
    if not re.fullmatch(rf"[0-9]{{1,{TENANT_ID_MAX_DIGITS}}}", text):
        shown = repr(value) if len(value) <= 80 else f"of {len(value)} characters"
        raise argparse.ArgumentTypeError(f"R1: a ClassLink tenant id is 1-{TENANT_ID_MAX_DIGITS} digits; not {shown}")
    return text


def _int_arg(value: str, low: int, high: int | None, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}, not {value[:40]!r}") from None
    if number < low or (high is not None and number > high):
        raise argparse.ArgumentTypeError(f"{what}, not {number}")
    return number


def port_arg(value: str) -> int:
    """A TCP port on 127.0.0.1, or 0 for a free one."""
    return _int_arg(value, 0, 65535, "a port is 1-65535 (0: a free one)")


def fixed_port_arg(value: str) -> int:
    """A TCP port, 1-65535."""
    return _int_arg(value, 1, 65535, "a port is 1-65535")


def positive_int(value: str) -> int:
    return _int_arg(value, 1, None, "must be a whole number of at least 1")


def non_negative_int(value: str) -> int:
    return _int_arg(value, 0, None, "must be a whole number of at least 0")


# -- the client secret: never required on the command line ---------------------------------------


def add_client_secret_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """``--client-secret-file PATH`` and ``--client-secret S`` (visible in ``ps`` and the shell
    history), besides ``$ONEROSTER_CLIENT_SECRET``: exactly one of the three (``client_secret``)."""
    parser.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help=f"a file holding the {what}; or set ${CLIENT_SECRET_VARIABLE} (either is preferred to --client-secret)",
    )
    parser.add_argument(
        "--client-secret",
        metavar="S",
        help=f"the {what} on the command line: visible to other users in `ps`, and kept in the shell history",
    )


SECRET_SOURCES = f"--client-secret-file PATH, ${CLIENT_SECRET_VARIABLE} or --client-secret"


def client_secret(args: argparse.Namespace, *, required: bool = True) -> str | None:
    """The client secret from exactly one of ``--client-secret-file``, ``$ONEROSTER_CLIENT_SECRET``
    and ``--client-secret``; ``CLIError`` naming the options when none or several are given (None
    when none is given and it is not ``required``). The secret is remembered, so that an error
    line never prints it."""
    given = {
        "--client-secret-file": getattr(args, "client_secret_file", None),
        f"${CLIENT_SECRET_VARIABLE}": os.environ.get(CLIENT_SECRET_VARIABLE) or None,
        "--client-secret": getattr(args, "client_secret", None),
    }
    sources = [name for name, value in given.items() if value is not None]
    if len(sources) > 1:
        raise CLIError(f"the client secret comes from {' and '.join(sources)}; give exactly one of {SECRET_SOURCES}")
    if not sources:
        if required:
            raise CLIError(f"the client secret is required: give one of {SECRET_SOURCES}")
        return None
    if sources[0] == "--client-secret-file":
        secret = read_input_text(str(given["--client-secret-file"]), "--client-secret-file").strip()
        if not secret:
            raise CLIError(f"--client-secret-file {given['--client-secret-file']}: the file is empty")
    else:
        secret = str(given[sources[0]])
        if not secret.strip():
            raise CLIError(f"{sources[0]} is empty; give the client secret with one of {SECRET_SOURCES}")
    _SECRETS.add(secret)
    return secret


# Values never printed by this process (the client secret a command was given). A value this
# short (a test's "s") is not scrubbed: it would mangle every word, and is no real secret.
_SECRETS: set[str] = set()
MIN_SCRUBBED_SECRET = 6


def read_input_text(path: str, option: str, *, encoding: str = "utf-8") -> str:
    """The text of an input file, or ``CLIError`` naming the option and the file (missing, a
    directory, unreadable, not UTF-8 text)."""
    try:
        return Path(path).read_text(encoding=encoding)
    except FileNotFoundError:
        raise CLIError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{option} {path}: is a directory, not a file") from None
    except PermissionError:
        raise CLIError(f"{option} {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise CLIError(f"{option} {path}: not UTF-8 text (byte {exc.start}); is it a binary file?") from None
    except OSError as exc:
        raise CLIError(f"{option} {path}: {exc.strerror or exc}") from None


# -- the environment -----------------------------------------------------------------------------


def is_local_endpoint(endpoint: str | None) -> bool:
    """Whether ``AWS_ENDPOINT_URL`` points at a stack on this machine (moto, ``sam local``)."""
    return bool(endpoint) and str(endpoint).startswith(LOCAL_HOSTS)


def prepare_environment() -> None:
    """Before a command touches AWS: against a local endpoint, fill in the local stack's resource
    names that are not set (so ``AWS_ENDPOINT_URL=http://127.0.0.1:PORT classlink-sync ...`` works
    without exporting a dozen names). Against AWS nothing is filled in: a missing setting is then an
    error that names the variable. Then the core's logs go to stderr (stdout is the result)."""
    if is_local_endpoint(os.environ.get("AWS_ENDPOINT_URL")):
        try:
            from classlink_local.stack import ensure_local_env
        except ImportError as exc:
            raise CLIError(
                "AWS_ENDPOINT_URL points at a local endpoint, but the local tooling (classlink_local, the dev "
                "extra) is not installed; set the resource variables yourself or install the dev extra"
            ) from exc
        ensure_local_env()
    _logs_to_stderr()


# -- main and the error families -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # --debug anywhere (the error line says "run with --debug"), not only before the command.
    debug = "--debug" in words or os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")
    Parser.usage_error = None
    try:
        args = parser.parse_args([word for word in words if word != "--debug"])
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed as one line
        code = exc.code if isinstance(exc.code, int) else 2
        if code and "--json" in words:  # stdout is only JSON, a usage error too
            print(json.dumps({"status": "error", "error": printable(Parser.usage_error or "usage error")}))
        return code
    _SECRETS.clear()
    try:
        with _quiet_core(debug=debug):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _report(args, exc, debug=debug)


def _report(args: argparse.Namespace, exc: Exception, *, debug: bool) -> int:
    """Print an error as one line on stderr (and, with ``--json``, as JSON on stdout); the exit code."""
    message = user_error(exc, args)
    code = 2
    if message is None:  # a bug
        code = 1
        if debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        message = f"internal error: {type(exc).__name__}: {exc}" + (
            "" if debug else " (run with --debug for the traceback)"
        )
    line = printable(message)
    if getattr(args, "json", False):
        print(json.dumps({"status": "error", "error": line}))
    command = " ".join(str(part) for part in (args.command, getattr(args, f"{args.command}_command", None)) if part)
    print(f"classlink-sync {command}: {line}", file=sys.stderr)
    return code


def printable(message: str) -> str:
    """One line, no URL userinfo, no secret this command was given."""
    from classlink_sync.redact import REDACTED, redact_userinfo

    text = redact_userinfo(_one_line(message))
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if len(secret) >= MIN_SCRUBBED_SECRET:
            text = text.replace(secret, REDACTED)
    return text


def _one_line(message: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(message)).strip()


# DynamoDB operations: a ResourceNotFoundException from one of them is a missing table.
_DYNAMODB_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "DescribeTable",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
        "UpdateItem",
    }
)
_REFUSED_CREDENTIALS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_CREDENTIAL_VARIABLES = "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (``raise ... from``, pynamodb's ``cause``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = current.__cause__ or getattr(current, "cause", None)
        current = wrapped if isinstance(wrapped, BaseException) else None


def user_error(exc: BaseException, args: argparse.Namespace | None = None) -> str | None:
    """The one-line message of an error a user can cause (a bad argument, setting, record or input
    file; AWS unreachable, no credentials, missing tables); None for a bug."""
    from classlink_sync.errors import ClassLinkSyncError, SettingsError

    for current in _chain(exc):
        if isinstance(current, SettingsError) and not os.environ.get("AWS_ENDPOINT_URL", "").strip():
            return f"{current} (against the local stack, AWS_ENDPOINT_URL=http://127.0.0.1:PORT is enough)"
        if isinstance(current, CLIError | ClassLinkSyncError):
            return str(current)
        aws = _aws_error(current)
        if aws is not None:
            return aws
        if isinstance(current, UnicodeDecodeError):
            name = getattr(args, "file", None) if args is not None else None
            return f"{name or 'an input file'}: not UTF-8 text (byte {current.start}); is it a binary file?"
        if isinstance(current, OSError) and current.filename is not None:
            return f"{current.filename}: {current.strerror or current}"
    return None


def _aws_error(exc: BaseException) -> str | None:
    try:
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )
    except ImportError:  # pragma: no cover - botocore is part of the core's requirements
        return None
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        if endpoint:
            return (
                f"cannot reach AWS at AWS_ENDPOINT_URL={endpoint}: is the local stack running "
                "(`classlink-sync stack`), or should AWS_ENDPOINT_URL be unset?"
            )
        return f"cannot reach AWS ({exc}): check the network and AWS_REGION"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"no AWS credentials found: set {_CREDENTIAL_VARIABLES} (or AWS_ENDPOINT_URL for the local stack)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION"
    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    where = f"AWS_ENDPOINT_URL={endpoint}" if endpoint else "AWS"
    if code == "ResourceNotFoundException" and exc.operation_name in _DYNAMODB_OPERATIONS:
        return (
            f"the tables do not exist at {where}: run `classlink-sync tables create` (local stack), or check "
            "the *_TABLE variables against the deployed stack"
        )
    if code == "NoSuchBucket":
        return (
            f"the report bucket ({os.environ.get('REPORT_BUCKET', 'REPORT_BUCKET')}) does not exist at {where}: "
            "run `classlink-sync tables create` (local stack), or check REPORT_BUCKET"
        )
    if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
        return f"the sync queue does not exist at {where}: check SYNC_QUEUE_URL"
    if code in _REFUSED_CREDENTIALS:
        return f"AWS refused the credentials ({code}): check {_CREDENTIAL_VARIABLES}"
    return None


# -- stdout is the result; logs go to stderr -----------------------------------------------------

_MOVED: list[tuple[logging.StreamHandler[Any], IO[str]]] = []
_DEBUG = {"on": False}


class _NoTraceback(logging.Filter):
    """Without ``--debug``, a log record of the core keeps its message, not its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_NO_TRACEBACK = _NoTraceback()


def _logs_to_stderr() -> None:
    """Point every log handler that writes to stdout at stderr until the command ends; the core's
    powertools logger (stdout: CloudWatch's stream in Lambda) is set up first so that it is one of
    them. Without ``--debug`` a log line carries no traceback."""
    try:
        from aws_lambda_powertools import Logger
    except ImportError:  # pragma: no cover - powertools is part of the core's requirements
        pass
    else:
        Logger()  # the logger ``Logger()`` in the core returns, configured now if it is not yet
    stdout = (sys.stdout, sys.__stdout__)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            # stdout, or a stream already closed (a handler made earlier in this process, in tests)
            stream = getattr(handler, "stream", None)
            to_stdout = type(handler) is logging.StreamHandler and (
                any(stream is s for s in stdout) or bool(getattr(stream, "closed", False))
            )
            if to_stdout and all(handler is not moved for moved, _ in _MOVED):
                _MOVED.append((handler, handler.stream))
                _set_stream(handler, sys.stderr)
                if not _DEBUG["on"]:
                    handler.addFilter(_NO_TRACEBACK)


def _set_stream(handler: logging.StreamHandler[Any], stream: IO[str]) -> None:
    """``handler.setStream`` without flushing the old stream (it may be closed)."""
    handler.acquire()
    try:
        with contextlib.suppress(ValueError, OSError):
            handler.flush()
        handler.stream = stream
    finally:
        handler.release()


def _restore_logs() -> None:
    while _MOVED:
        handler, stream = _MOVED.pop()
        _set_stream(handler, stream)
        handler.removeFilter(_NO_TRACEBACK)


@contextlib.contextmanager
def _quiet_core(*, debug: bool = False) -> Iterator[None]:
    """A command's stdout is its result (`--json` must parse): the core's JSON logs stay at WARNING
    unless LOG_LEVEL asks for more and go to stderr, and no EMF metrics are printed (they are
    CloudWatch's). The environment and the log handlers are restored afterwards (tests call
    ``main`` in-process)."""
    wanted = {"POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"), "POWERTOOLS_METRICS_DISABLED": "true"}
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    _DEBUG["on"] = debug
    try:
        yield
    finally:
        _restore_logs()
        _DEBUG["on"] = False
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
