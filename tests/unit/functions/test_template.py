"""template.yaml: the properties issue 4 demands, checked so they cannot regress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from classlink_sync.settings import REQUIRED_FIELDS, env_name
from classlink_sync.sync.messages import ScheduleInput

from .conftest import ROOT, load_handler

PSEUDO = {
    "AWS::Region",
    "AWS::AccountId",
    "AWS::Partition",
    "AWS::StackName",
    "AWS::URLSuffix",
    "AWS::NoValue",
}
# Resources SAM generates from the ones in the template (referenced by logical id).
SAM_GENERATED = {"HttpApiApiGatewayDefaultStage"}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def sync_event(template: dict[str, Any]) -> dict[str, Any]:
    events = template["Resources"]["DistrictSyncFunction"]["Properties"]["Events"]
    (event,) = [e for e in events.values() if e["Type"] == "SQS"]
    return event["Properties"]


def test_visibility_timeout_is_at_least_six_times_the_sync_timeout(template: dict[str, Any]) -> None:
    timeout = template["Resources"]["DistrictSyncFunction"]["Properties"]["Timeout"]
    assert timeout == {"Ref": "SyncFunctionTimeout"}
    parameter = template["Parameters"]["SyncFunctionTimeout"]
    visibility = template["Resources"]["SyncQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * parameter["MaxValue"] >= 6 * parameter["Default"]
    assert parameter["MaxValue"] <= 900  # Lambda's limit


def test_sqs_event_source(template: dict[str, Any]) -> None:
    props = sync_event(template)
    assert props["Queue"] == {"Fn::GetAtt": ["SyncQueue", "Arn"]}
    assert props["BatchSize"] == 1
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    concurrency = props["ScalingConfig"]["MaximumConcurrency"]
    if isinstance(concurrency, dict):
        concurrency = template["Parameters"][concurrency["Ref"]]["Default"]
    value = concurrency
    assert 2 <= int(value) <= 20  # SQS's minimum; small enough to protect ClassLink's rate limits
    # Not reserved concurrency: as an SQS throttle it fails the pollers' invocations (DESIGN.md).
    assert "ReservedConcurrentExecutions" not in template["Resources"]["DistrictSyncFunction"]["Properties"]


def test_dead_letter_queue_redrive(template: dict[str, Any]) -> None:
    queue = template["Resources"]["SyncQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"]}
    assert 2 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 5
    dlq = template["Resources"]["SyncDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    for props in (queue, dlq):
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props


def test_idempotency_records_outlive_the_queue_retention(template: dict[str, Any]) -> None:
    retention = template["Resources"]["SyncQueue"]["Properties"]["MessageRetentionPeriod"]
    module = load_handler("district_sync")
    assert retention <= module.IDEMPOTENCY_EXPIRY_SECONDS


def test_idempotency_table_matches_powertools_defaults(template: dict[str, Any]) -> None:
    table = template["Resources"]["IdempotencyTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    env = template["Resources"]["DistrictSyncFunction"]["Properties"]["Environment"]["Variables"]
    assert env["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}


def test_point_in_time_recovery_on_every_table(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert {"IdempotencyTable", "DistrictsTable", "AccountsTable"} <= set(tables)
    for name, table in tables.items():
        pitr = table["Properties"].get("PointInTimeRecoverySpecification", {})
        assert pitr.get("PointInTimeRecoveryEnabled") is True, name


def test_buckets_are_encrypted_and_private(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert buckets
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        block = props["PublicAccessBlockConfiguration"]
        assert all(
            block[k] is True
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ), name


def test_least_privilege_policies(template: dict[str, Any]) -> None:
    for name, function in resources(template, "AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            if isinstance(policy, str):
                assert not policy.endswith("FullAccess"), (name, policy)
                continue
            assert isinstance(policy, dict)
            if "Statement" in policy:
                for statement in policy["Statement"]:
                    action = statement["Action"]
                    actions = action if isinstance(action, list) else [action]
                    assert all("*" not in a for a in actions), (name, statement)
                    assert statement["Resource"] != "*", (name, statement)
                continue
            ((template_name, args),) = policy.items()
            assert "FullAccess" not in template_name, (name, template_name)
            for key, value in args.items():
                # Resource names come from the template (Ref/GetAtt), never a literal wildcard ...
                if template_name == "AWSSecretsManagerGetSecretValuePolicy" and "Fn::Sub" in value:
                    # ... except district credentials, created at onboarding under a fixed prefix (R1).
                    assert value["Fn::Sub"].endswith(":secret:classlink-sync/${Environment}/district/*")
                    continue
                assert isinstance(value, dict) and set(value) <= {"Ref", "Fn::GetAtt"}, (name, key, value)


def test_every_setting_the_core_reads_is_wired(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    for field in REQUIRED_FIELDS:
        assert env_name(field) in env, env_name(field)
    for var in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"):
        assert var in env
    dispatcher_env = template["Resources"]["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
    assert dispatcher_env["SYNC_QUEUE_URL"] == {"Ref": "SyncQueue"}


def test_every_reference_resolves(template: dict[str, Any]) -> None:
    known = set(template["Resources"]) | set(template.get("Parameters", {})) | PSEUDO | SAM_GENERATED
    for node in walk(template):
        if isinstance(node, dict) and "Ref" in node and len(node) == 1:
            assert node["Ref"] in known, node
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            assert node["Fn::GetAtt"][0] in known, node


def test_alarms_watch_the_metrics_the_sync_publishes(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    service = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    by_metric = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in alarms.values()
        if a["Properties"]["Namespace"] != "AWS/SQS"
        or a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SyncDeadLetterQueue", "QueueName"]}
    }
    for metric in ("SyncFailed", "SyncHeld"):
        alarm = by_metric[metric]
        assert alarm["Namespace"] == "ClassLinkSync"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    dlq_alarm = by_metric["ApproximateNumberOfMessagesVisible"]
    assert dlq_alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SyncDeadLetterQueue", "QueueName"]}


def test_schedule_has_an_explicit_input_the_dispatcher_accepts(template: dict[str, Any]) -> None:
    events = template["Resources"]["DispatcherFunction"]["Properties"]["Events"]
    schedules = {name: e["Properties"] for name, e in events.items() if e["Type"] == "ScheduleV2"}
    assert set(schedules) == {"Daily", "Delta"}  # R14 daily full syncs, R18 delta syncs
    modes = {}
    for name, schedule in schedules.items():
        data = json.loads(schedule["Input"].replace("<aws.scheduler.scheduled-time>", "2026-01-05T06:00:00Z"))
        parsed = ScheduleInput.parse(data)
        assert parsed.trigger == "schedule" and parsed.scheduled_time is not None
        modes[name] = parsed.mode
    assert modes == {"Daily": "full", "Delta": "delta"}


@pytest.mark.parametrize("function", ["DispatcherFunction", "DistrictSyncFunction"])
def test_handlers_exist(template: dict[str, Any], function: str) -> None:
    props = template["Resources"][function]["Properties"]
    module, _, attribute = props["Handler"].rpartition(".")
    path = ROOT / props["CodeUri"] / f"{module}.py"
    assert path.is_file()
    assert callable(getattr(load_handler(path.parent.name), attribute))


def test_layer_is_built_for_the_functions_runtime(template: dict[str, Any]) -> None:
    layer = template["Resources"]["SharedLayer"]
    runtime = template["Globals"]["Function"]["Runtime"]
    assert layer["Metadata"]["BuildMethod"] == runtime
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    assert layer["Properties"]["ContentUri"] == "layers/shared"


def test_R1_functions_may_read_exactly_the_prefix_onboarding_writes_district_secrets_under(
    template: dict[str, Any],
) -> None:
    prefix = template["Globals"]["Function"]["Environment"]["Variables"]["DISTRICT_SECRET_PREFIX"]["Fn::Sub"]
    sync = template["Resources"]["DistrictSyncFunction"]["Properties"]["Policies"]
    arns = [node["SecretArn"]["Fn::Sub"] for node in walk(sync) if isinstance(node, dict) and "SecretArn" in node]
    assert any(arn.endswith(":secret:" + prefix + "*") for arn in arns), arns


# --- checkov (make scan): what its findings were fixed with, and that every skip says why ---------


def test_every_queue_is_encrypted_with_kms(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert {"SyncQueue", "SyncDeadLetterQueue", "DispatcherDeadLetterQueue"} <= set(queues)
    for name, queue in queues.items():
        # The AWS managed key: every role that may use the queue may use the key.
        assert queue["Properties"].get("KmsMasterKeyId") == "alias/aws/sqs", name


def test_report_bucket_is_versioned_and_old_versions_expire(template: dict[str, Any]) -> None:
    props = template["Resources"]["ReportBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    assert rules["keep-reports-two-school-years"]["ExpirationInDays"] == 730
    (old_versions,) = [rule for rule in rules.values() if "NoncurrentVersionExpiration" in rule]
    assert 1 <= old_versions["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 90
    assert old_versions["ExpiredObjectDeleteMarker"] is True


@pytest.mark.parametrize(
    ("function", "parameter"),
    [("SsoFunction", "SsoReservedConcurrency"), ("DispatcherFunction", "DispatcherReservedConcurrency")],
)
def test_reserved_concurrency_bounds_the_sso_and_the_dispatcher(
    template: dict[str, Any], function: str, parameter: str
) -> None:
    props = template["Resources"][function]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {"Ref": parameter}
    spec = template["Parameters"][parameter]
    assert spec["Type"] == "Number"
    assert 1 <= spec["MinValue"] <= spec["Default"] <= spec["MaxValue"]


def test_dispatcher_failures_reach_an_alarmed_dead_letter_queue(template: dict[str, Any]) -> None:
    dlq = {"Fn::GetAtt": ["DispatcherDeadLetterQueue", "Arn"]}
    props = template["Resources"]["DispatcherFunction"]["Properties"]
    # Failed runs once Lambda accepted the asynchronous event (after its retries) ...
    assert props["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": dlq}
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] >= 1
    # ... and firings Scheduler could not deliver at all.
    schedules = [e["Properties"] for e in props["Events"].values() if e["Type"] == "ScheduleV2"]
    assert len(schedules) == 2  # the daily (R14) and the delta (R18) schedules
    for schedule in schedules:
        assert schedule["DeadLetterConfig"] == {"Arn": dlq}
    watched = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DispatcherDeadLetterQueue", "QueueName"]}
    ]
    assert [a["AlarmActions"] for a in watched] == [[{"Ref": "AlarmTopic"}]]


def test_every_checkov_skip_says_why(template: dict[str, Any]) -> None:
    skipped = 0
    for name, resource in template["Resources"].items():
        checkov = resource.get("Metadata", {}).get("checkov")
        if checkov is None:
            continue
        for skip in checkov["skip"]:
            assert skip["id"].startswith("CKV_"), (name, skip)
            comment = skip.get("comment")
            assert isinstance(comment, str) and len(comment.split()) >= 5, (name, skip)
            skipped += 1
    assert skipped > 0


def test_R19_only_the_sync_sends_email_and_only_as_the_notify_identity(template: dict[str, Any]) -> None:
    identity_arn = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${NotifyFromAddress}"
    senders = {}
    for name, function in resources(template, "AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            assert not (isinstance(policy, dict) and any(key.startswith("SES") for key in policy)), (name, policy)
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                action = statement["Action"]
                if any(a.startswith("ses:") for a in (action if isinstance(action, list) else [action])):
                    senders.setdefault(name, []).append(statement)
    ((statement,),) = [senders.pop("DistrictSyncFunction")]
    assert senders == {}
    assert statement["Effect"] == "Allow" and statement["Action"] == "ses:SendEmail"
    assert statement["Resource"] == {
        "Fn::If": ["HasSesIdentityArn", {"Ref": "SesIdentityArn"}, {"Fn::Sub": identity_arn}]
    }
    env = template["Resources"]["DistrictSyncFunction"]["Properties"]["Environment"]["Variables"]
    assert env["NOTIFY_FROM"] == {"Ref": "NotifyFromAddress"}
    assert "PORTAL_URL" in env


# --- R20: a sync continued in follow-up messages to its own queue ---------------------------------


def test_R20_the_sync_function_may_continue_itself_through_its_own_queue(template: dict[str, Any]) -> None:
    props = template["Resources"]["DistrictSyncFunction"]["Properties"]
    # Lambda would stop a function feeding its own trigger queue after ~16 rounds; the message's
    # hop counter bounds the loop instead.
    assert props["RecursiveLoop"] == "Allow"
    assert props["Environment"]["Variables"]["SYNC_QUEUE_URL"] == {"Ref": "SyncQueue"}
    sends = [
        p["SQSSendMessagePolicy"] for p in props["Policies"] if isinstance(p, dict) and "SQSSendMessagePolicy" in p
    ]
    assert sends == [{"QueueName": {"Fn::GetAtt": ["SyncQueue", "QueueName"]}}]


def test_R20_a_continued_run_fails_on_the_receive_sqs_moves_to_the_dlq(template: dict[str, Any]) -> None:
    from classlink_sync.sync import continuation

    queue = template["Resources"]["SyncQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == continuation.MAX_RECEIVES
    # The lease outlives the redelivery of a killed invocation, so the run's own message resumes it.
    assert queue["VisibilityTimeout"] < continuation.CONTINUATION_LEASE_SECONDS
    assert continuation.MAX_HOPS <= 50


def test_R20_a_sync_in_progress_for_two_hours_raises_an_alarm(template: dict[str, Any]) -> None:
    from classlink_sync.sync import continuation

    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == continuation.AGE_METRIC
    ]
    service = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert (
        alarm["Namespace"]
        == template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
    assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == continuation.STUCK_SECONDS == 7200
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
