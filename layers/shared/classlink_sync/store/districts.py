"""Districts (R1 onboarding): settings, credentials in Secrets Manager, one district per tenant,
the two weeks' notice, and the onboarding state (R2 reset done, first sync done).

The district item holds only the secret's ARN; the credentials themselves go to Secrets Manager
and never into an item, a log line or an exception message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from classlink_sync import aws
from classlink_sync.errors import DistrictNotFound as DistrictNotFound
from classlink_sync.errors import OnboardingError as OnboardingError
from classlink_sync.redact import redact_userinfo
from classlink_sync.rules import calendar
from classlink_sync.rules.calendar import check_timezone
from classlink_sync.rules.contacts import change_contacts, check_contacts
from classlink_sync.rules.district import ALL_SCHOOLS, DistrictSettings, GuardThresholds
from classlink_sync.rules.onboarding import NOTICE_DAYS as NOTICE_DAYS
from classlink_sync.rules.onboarding import check_onboarding
from classlink_sync.rules.onboarding import tenant_key as tenant_key
from classlink_sync.settings import AppSettings
from classlink_sync.store.context import Store, resolve


@dataclass(frozen=True)
class District:
    district_id: str
    tenant_id: str
    oneroster_url: str
    secret_id: str
    licensed_schools: frozenset[str] | None  # None = "all"
    enable_from: dt.date
    thresholds: GuardThresholds = field(default_factory=GuardThresholds)
    subject_overrides: dict[str, str] = field(default_factory=dict)
    use_proxy: bool = False
    created_at: str = ""
    notice_overridden: bool = False
    reset_at: str | None = None
    first_sync_at: str | None = None
    contacts: tuple[str, ...] = ()  # R19: emailed about its syncs
    timezone: str = "UTC"  # IANA zone of the district's dates and hours (R16, R18)
    pause: dict[str, Any] | None = None  # R16: {"from", "until", "reason"}
    blackouts: tuple[dict[str, Any], ...] = ()  # R16: [{"from", "until", "reason"}]
    additions_only: tuple[dict[str, Any], ...] = ()  # R16: [{"from", "until", "reason"}]
    delta: dict[str, Any] | None = None  # R18: {"every_minutes", "from_hour", "until_hour"}; None: off
    paused_since: str | None = None  # R16: the first paused slot since the last applied sync
    paused_last: str | None = None  # R16: the latest paused slot since then

    @property
    def reset_done(self) -> bool:
        """R2: the district's existing data was reset before the first sync."""
        return self.reset_at is not None

    @property
    def first_sync_done(self) -> bool:
        return self.first_sync_at is not None

    def enabled_on(self, date: dt.date) -> bool:
        """R1/R14: the schedule syncs the district from its enable date on."""
        return date >= self.enable_from

    def to_settings(self) -> DistrictSettings:
        """The district as the rules see it."""
        return DistrictSettings(
            district_id=self.district_id,
            tenant_id=self.tenant_id,
            licensed_schools=self.licensed_schools,
            subject_overrides=dict(self.subject_overrides),
            thresholds=self.thresholds,
        )

    def describe(self) -> dict[str, Any]:
        """A printable view (no secret: only its id; a URL's ``user:password@`` redacted)."""
        out = asdict(self)
        out["oneroster_url"] = redact_userinfo(self.oneroster_url)
        out["licensed_schools"] = ALL_SCHOOLS if self.licensed_schools is None else sorted(self.licensed_schools)
        out["enable_from"] = self.enable_from.isoformat()
        out["reset_done"], out["first_sync_done"] = self.reset_done, self.first_sync_done
        return out


def _district(item: Any) -> District:
    thresholds = GuardThresholds(**item.thresholds) if item.thresholds else GuardThresholds()
    return District(
        district_id=item.district_id,
        tenant_id=item.tenant_id,
        oneroster_url=item.oneroster_url,
        secret_id=item.secret_id,
        licensed_schools=None if item.all_schools else frozenset(item.schools or ()),
        enable_from=dt.date.fromisoformat(item.enable_from),
        thresholds=thresholds,
        subject_overrides=dict(item.subject_overrides or {}),
        use_proxy=bool(item.use_proxy),
        created_at=item.created_at,
        notice_overridden=bool(item.notice_overridden),
        reset_at=item.reset_at,
        first_sync_at=item.first_sync_at,
        contacts=tuple(item.contacts or ()),
        timezone=item.timezone or "UTC",
        pause=dict(item.pause) if item.pause else None,
        blackouts=tuple(dict(b) for b in item.blackouts or ()),
        additions_only=tuple(dict(a) for a in item.additions_only or ()),
        delta=dict(item.delta) if item.delta else None,
        paused_since=item.paused_since,
        paused_last=item.paused_last,
    )


def secrets_client(settings: AppSettings) -> Any:
    """Secrets Manager through boto3 (pynamodb is DynamoDB only), at ``AWS_ENDPOINT_URL``, on the
    process's botocore session (``classlink_sync.aws``)."""
    return aws.client("secretsmanager", settings)


def _store_secret(settings: AppSettings, district_id: str, client_id: str, client_secret: str) -> tuple[str, bool]:
    """Create or update the district's credentials secret; return (ARN, created now)."""
    client = secrets_client(settings)
    name = settings.district_secret_prefix + district_id
    value = json.dumps({"client_id": client_id, "client_secret": client_secret})
    try:
        response = client.create_secret(
            Name=name, SecretString=value, Description=f"ClassLink OneRoster credentials of {district_id}"
        )
        return str(response["ARN"]), True
    except client.exceptions.ResourceExistsException:
        response = client.put_secret_value(SecretId=name, SecretString=value)
        return str(response["ARN"]), False


def add_district(
    district_id: str,
    *,
    tenant_id: str | int,
    oneroster_url: str,
    client_id: str,
    client_secret: str,
    schools: list[str] | Literal["all"],
    enable_from: dt.date | None = None,
    override_notice: bool = False,
    thresholds: GuardThresholds | None = None,
    subject_overrides: dict[str, str] | None = None,
    use_proxy: bool = False,
    contacts: list[str] | None = None,
    today: dt.date | None = None,
    store: Store | None = None,
    timezone: str | None = "UTC",
) -> District:
    """Onboard a district (R1). The request's own rules (``rules.onboarding.check_onboarding``: id
    format, tenant id as a string, http(s) URL, credentials, an explicit school list or "all", 14
    days' notice unless ``override_notice``; R19 contact emails; R16/R18 the IANA ``timezone``) are
    checked before anything is read or written; then this refuses a district id that exists or a
    tenant already bound to another district. The tenant claim and the district item are written in one transaction."""
    store = resolve(store)
    request = check_onboarding(
        district_id,
        tenant_id=tenant_id,
        oneroster_url=oneroster_url,
        client_id=client_id,
        client_secret=client_secret,
        schools=schools,
        enable_from=enable_from,
        today=today or dt.date.today(),
        override_notice=override_notice,
    )
    checked_contacts = check_contacts(contacts or ())  # R19
    zone = check_timezone(timezone)  # R16/R18: an IANA name zoneinfo knows
    tenant = request.tenant_id
    models = store.models
    # Refuse before touching Secrets Manager: a refused onboarding must not overwrite the
    # credentials of the district that already has this id (the transaction below still guards
    # against a race between two onboardings).
    if _exists(models.District, f"district#{district_id}"):
        raise OnboardingError(f"R1: district {district_id} already exists")
    holder = district_for_tenant(tenant, store=store)
    if holder is not None:
        raise OnboardingError(f"R1: ClassLink tenant {tenant} already belongs to district {holder}")
    secret_arn, created = _store_secret(store.settings, district_id, client_id, client_secret)
    item = models.District(
        pk=f"district#{district_id}",
        district_id=district_id,
        tenant_id=tenant,
        oneroster_url=oneroster_url,
        secret_id=secret_arn,
        use_proxy=use_proxy,
        all_schools=request.all_schools,
        schools=list(request.schools),
        enable_from=request.enable_from.isoformat(),
        thresholds=asdict(thresholds) if thresholds else None,
        subject_overrides=dict(subject_overrides) if subject_overrides else None,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        notice_overridden=request.notice_overridden,
        contacts=list(checked_contacts),
        timezone=zone,
    )
    claim = models.Tenant(pk=f"tenant#{tenant}", district_id=district_id)
    try:
        with TransactWrite(connection=models.District._get_connection().connection) as tx:
            tx.save(claim, condition=models.Tenant.pk.does_not_exist())
            tx.save(item, condition=models.District.pk.does_not_exist())
    except TransactWriteError as exc:
        if created:
            secrets_client(store.settings).delete_secret(SecretId=secret_arn, ForceDeleteWithoutRecovery=True)
        reasons = [r.code if r else "None" for r in (exc.cancellation_reasons or [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            holder = district_for_tenant(tenant, store=store)
            raise OnboardingError(f"R1: ClassLink tenant {tenant} already belongs to district {holder}") from None
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise OnboardingError(f"R1: district {district_id} already exists") from None
        raise
    return _district(item)


def _exists(model: Any, pk: str) -> bool:
    try:
        model.get(pk, consistent_read=True)
    except model.DoesNotExist:
        return False
    return True


def get_district(district_id: str, store: Store | None = None) -> District:
    store = resolve(store)
    try:
        return _district(store.models.District.get(f"district#{district_id}", consistent_read=True))
    except store.models.District.DoesNotExist:
        raise DistrictNotFound(f"no district {district_id!r}") from None


def show_district(district_id: str, store: Store | None = None) -> dict[str, Any]:
    """The district as printable data (``districts show``)."""
    return get_district(district_id, store).describe()


def list_districts(store: Store | None = None) -> list[District]:
    """Every onboarded district (a Scan of the small districts table), sorted by id."""
    store = resolve(store)
    District_ = store.models.District
    items = District_.scan(District_.pk.startswith("district#"))
    return sorted((_district(i) for i in items), key=lambda d: d.district_id)


def district_for_tenant(tenant_id: str | int, store: Store | None = None) -> str | None:
    """The district bound to a ClassLink tenant (R1, S3), in one read; None if none."""
    store = resolve(store)
    try:
        return str(store.models.Tenant.get(f"tenant#{tenant_key(tenant_id)}").district_id)
    except store.models.Tenant.DoesNotExist:
        return None


def to_settings(district_id: str, store: Store | None = None) -> DistrictSettings:
    return get_district(district_id, store).to_settings()


def mark_reset(district_id: str, store: Store | None = None) -> None:
    """Record that R2's reset was done (kept on the first reset)."""
    _mark(district_id, "reset_at", store)


def mark_first_sync(district_id: str, store: Store | None = None) -> None:
    """Record the first completed sync (kept on later syncs)."""
    _mark(district_id, "first_sync_at", store)


def change_district_contacts(
    district_id: str, action: str, addresses: list[str], store: Store | None = None
) -> tuple[str, ...]:
    """R19: ``set``, ``add`` or ``remove`` contact emails (``notify.contacts.change_contacts``
    checks them: ``OnboardingError`` naming a malformed one); returns the list now stored. The
    write is conditional on the list read, so two staff changing it at once cannot lose one."""
    store = resolve(store)
    District_ = store.models.District
    try:
        item = District_.get(f"district#{district_id}", consistent_read=True)
    except District_.DoesNotExist:
        raise DistrictNotFound(f"no district {district_id!r}") from None
    contacts: Any = District_.contacts  # a list of strings (pynamodb types it as attributes)
    before = [str(c) for c in item.contacts or []]
    after = change_contacts(before, action, addresses)
    unchanged = contacts == before
    if not before:  # an item onboarded before R19 has no list at all
        unchanged = unchanged | contacts.does_not_exist()
    try:
        item.update(actions=[contacts.set(list(after))], condition=unchanged)
    except Exception as exc:
        from classlink_sync.store.dynamo import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            raise OnboardingError(f"R19: the contacts of {district_id} changed meanwhile; try again") from None
        raise
    return after


def _mark(district_id: str, attribute: str, store: Store | None) -> None:
    store = resolve(store)
    District_ = store.models.District
    attr = getattr(District_, attribute)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        District_(pk=f"district#{district_id}").update(actions=[attr.set(attr | now)], condition=District_.pk.exists())
    except Exception as exc:
        from classlink_sync.store.dynamo import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            raise DistrictNotFound(f"no district {district_id!r}") from None
        raise


# -- R16: pause, blackouts, additions-only ranges ------------------------------------------------------

WINDOW_KINDS = {"blackouts": "blackout", "additions_only": "additions-only range"}


def _change_json(district_id: str, attribute: str, change: Callable[[Any], Any], store: Store | None) -> Any:
    """Read one JSON attribute of the district, compute its new value (``change``; None removes it)
    and write it conditionally on the value read, as ``change_district_contacts`` does: two staff
    changing it at once cannot lose one. Returns the new value."""
    from classlink_sync.store.dynamo import error_code

    store = resolve(store)
    District_ = store.models.District
    try:
        item = District_.get(f"district#{district_id}", consistent_read=True)
    except District_.DoesNotExist:
        raise DistrictNotFound(f"no district {district_id!r}") from None
    attr: Any = getattr(District_, attribute)
    before = getattr(item, attribute)
    after = change(before)
    unchanged = attr.does_not_exist() if before is None else attr == before
    action = attr.remove() if after is None else attr.set(after)
    try:
        item.update(actions=[action], condition=unchanged)
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise OnboardingError(f"R16: the {attribute} of {district_id} changed meanwhile; try again") from None
        raise
    return after


def set_pause(
    district_id: str,
    start: str | dt.date,
    until: str | dt.date | None,
    reason: str,
    store: Store | None = None,
) -> dict[str, Any]:
    """R16: pause the district from ``start`` (until ``until``, or until resumed when None), with its
    reason; replaces a pause it has. ``OnboardingError`` naming a bad argument."""
    pause = calendar.check_range(start, until, reason, what="a pause", open_end=True, reason_required=True)
    _change_json(district_id, "pause", lambda _: pause, store)
    return pause


def clear_pause(district_id: str, store: Store | None = None) -> dict[str, Any] | None:
    """R16: resume the district: its pause is removed. Returns the pause it had (None: it had none)."""
    had: list[Any] = []

    def change(before: Any) -> None:
        had.append(before)

    _change_json(district_id, "pause", change, store)
    return dict(had[0]) if had and had[0] else None


def add_window(
    district_id: str,
    kind: str,
    start: str | dt.date,
    until: str | dt.date,
    reason: str | None = None,
    store: Store | None = None,
) -> list[dict[str, Any]]:
    """R16: add a blackout (``kind`` ``blackouts``) or additions-only range (``additions_only``);
    one overlapping a range of the same kind is refused. Returns the district's ranges of that kind."""
    what = WINDOW_KINDS[kind]
    new = calendar.check_range(start, until, reason, what=f"a {what}")
    added: list[dict[str, Any]] = _change_json(
        district_id, kind, lambda before: calendar.add_range(before or (), new, what), store
    )
    return added


def remove_window(
    district_id: str, kind: str, start: str | dt.date, until: str | dt.date, store: Store | None = None
) -> list[dict[str, Any]]:
    """R16: remove the blackout or additions-only range ``start..until`` (exactly those dates).
    Returns the ranges left; ``OnboardingError`` naming the ranges there are when none matches."""
    what = WINDOW_KINDS[kind]

    def change(before: Any) -> list[dict[str, Any]] | None:
        return calendar.remove_range(before or (), start, until, what) or None

    left = _change_json(district_id, kind, change, store)
    return list(left or [])


def mark_paused_since(district_id: str, date: str, store: Store | None = None) -> None:
    """R16: remember the district's first paused slot since its last applied sync (kept if set) and
    its latest (``paused_last``, moved only forward), which together measure the pause."""
    from classlink_sync.store.dynamo import error_code

    store = resolve(store)
    District_ = store.models.District
    attr, last = District_.paused_since, District_.paused_last
    item = District_(pk=f"district#{district_id}")
    try:
        item.update(actions=[attr.set(attr | date)], condition=District_.pk.exists())
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise DistrictNotFound(f"no district {district_id!r}") from None
        raise
    try:
        item.update(actions=[last.set(date)], condition=last.does_not_exist() | (last < date))
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":  # a later slot is already kept
            raise


def clear_paused_since(district_id: str, store: Store | None = None, *, after: str | None = None) -> bool:
    """R16: a sync applied: the next pause counts from its own first slot. ``after``: the applied
    sync's date; the pause is ended only by a sync dated after its latest paused slot (a staff sync
    dated before or inside it ends nothing). False when nothing was cleared (a conditional write:
    no change, no error)."""
    store = resolve(store)
    District_ = store.models.District
    condition = District_.paused_since.exists()
    if after is not None:
        condition &= District_.paused_last.does_not_exist() | (District_.paused_last < after)
    try:
        District_(pk=f"district#{district_id}").update(
            actions=[District_.paused_since.remove(), District_.paused_last.remove()], condition=condition
        )
    except Exception as exc:
        from classlink_sync.store.dynamo import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def set_delta(district_id: str, cadence: dict[str, Any] | None, store: Store | None = None) -> dict[str, Any] | None:
    """R18: set the district's delta-sync cadence (``rules.delta.check_cadence``), or switch delta
    syncs off (None). Returns the cadence now stored. ``DistrictNotFound`` for an unknown district."""
    from classlink_sync.rules.delta import check_cadence
    from classlink_sync.store.dynamo import error_code

    checked = check_cadence(cadence)
    store = resolve(store)
    District_ = store.models.District
    attr: Any = District_.delta
    action = attr.remove() if checked is None else attr.set(checked)
    try:
        District_(pk=f"district#{district_id}").update(actions=[action], condition=District_.pk.exists())
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise DistrictNotFound(f"no district {district_id!r}") from None
        raise
    return checked
