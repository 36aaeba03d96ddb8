"""R17: run journals live in the report bucket for the undo window and no longer."""

from __future__ import annotations

from typing import Any

from classlink_sync.store.journal import PREFIX, RETENTION_DAYS


def test_R17_the_report_bucket_expires_run_journals_after_the_undo_window(template: dict[str, Any]) -> None:
    rules = template["Resources"]["ReportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (journals,) = [rule for rule in rules if rule.get("Prefix") == PREFIX]
    assert journals["Status"] == "Enabled"
    assert journals["ExpirationInDays"] == RETENTION_DAYS == 30


def test_R17_the_portal_may_read_run_journals_and_tell_a_missing_one(template: dict[str, Any]) -> None:
    """The undo page (S7) reads journals; without s3:ListBucket a missing one answers 403, not 404."""
    policies = template["Resources"]["PortalFunction"]["Properties"]["Policies"]
    statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
    reads = [s for s in statements if s.get("Action") == "s3:GetObject"]
    assert any("/journals/*" in str(s["Resource"]) for s in reads)
    assert any(s.get("Action") == "s3:ListBucket" for s in statements)
