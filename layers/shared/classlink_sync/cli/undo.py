"""``classlink-sync undo DISTRICT RUN [--dry-run]`` (SPEC R17): undo a run that succeeded or was
approved, as a run of its own (trigger ``undo``) under the district's lease (R14).

The core is ``classlink_sync.sync.undo.undo_run`` (the portal queues the same undo). A refusal is one
line on stderr, exit code 2, naming the runs that block (undo those first, newest first); a run
already undone, too old for the journal (30 days), held, dry or discarded is refused the same way.
``--dry-run`` plans the undo and prints what it would change; nothing is written.
"""

from __future__ import annotations

import argparse
import json

from classlink_sync.cli import CLIError, district_id_arg, prepare_environment


def register(subparsers: argparse._SubParsersAction) -> None:
    undo = subparsers.add_parser(
        "undo", help="R17: put back every roster record a run changed, as it was just before that run"
    )
    undo.add_argument("district_id", type=district_id_arg)
    undo.add_argument("run_id", help="the run to undo (a succeeded run, or a held run that was approved)")
    undo.add_argument(
        "--dry-run", action="store_true", help="plan the undo and print what it would change; write nothing"
    )
    undo.add_argument("--json", action="store_true", help="print the undo run's record as JSON (an error too)")
    undo.set_defaults(func=_undo)


def _undo(args: argparse.Namespace) -> int:
    prepare_environment()
    from classlink_sync.cli.sync import run_record_json
    from classlink_sync.errors import DistrictBusy, DistrictNotFound
    from classlink_sync.report import FAILED, render_text
    from classlink_sync.sync.undo import UndoRefused, undo_run

    try:
        outcome = undo_run(args.district_id, args.run_id, dry_run=args.dry_run)
    except DistrictNotFound as exc:
        raise CLIError(f"no district {args.district_id!r}; onboard it with `districts add`") from exc
    except (UndoRefused, DistrictBusy) as exc:
        raise CLIError(str(exc)) from exc
    if args.json:
        data = run_record_json(outcome.report)
        data["undoes"] = outcome.target
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_text(outcome.report))
    return 1 if outcome.report.status == FAILED else 0
