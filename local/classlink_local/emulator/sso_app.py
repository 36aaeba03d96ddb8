"""ClassLink's SSO side as an emulator app (SPEC §1 SSO facts): authorize, token, JWKS, discovery
and userinfo, issuing RS256 id_tokens with ClassLink's claims.

Mount it next to the OneRoster app on the emulator server (``apps=[oneroster_app, sso_app]``); point
``CLASSLINK_LAUNCHPAD_URL`` and ``CLASSLINK_NODEAPI_URL`` at the server's base URL. The issuer is that
base URL as the client addressed it (or ``issuer=`` if given).

Who signs in: ``sign_in_as(sourced_id, tenant_id=None)`` (stays until changed), or the ``as`` query
parameter on ``/oauth2/v2/auth`` (``as=<tenant>:<sourcedId>``), or, with neither, a page listing the
users to pick from (handy in a browser). ``deny()`` makes the next authorizations redirect with
``error=access_denied``. Test switches live in ``faults`` (:class:`SsoFaults`); ``rotate_key()``
starts signing with a new key id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from classlink_local.emulator.http import Request, Response

CODE_LIFETIME_SECONDS = 300  # ClassLink: codes live 5 minutes
ACCESS_TOKEN_LIFETIME_SECONDS = 3600
ID_TOKEN_LIFETIME_SECONDS = 600

LAUNCHPAD_ROLES = {"teacher": "Teacher", "student": "Student", "administrator": "Tenant Administrator"}


@dataclass(slots=True)
class SsoUser:
    """A ClassLink user as LaunchPad knows it. ``tenant_id`` and ``user_id`` are numbers, as in
    ClassLink's userinfo; ``role`` is LaunchPad's label (Student | Teacher | Tenant Administrator)."""

    tenant_id: int
    sourced_id: str
    user_id: int
    login_id: str
    email: str | None
    given_name: str
    family_name: str
    role: str
    tenant_name: str = ""


@dataclass(slots=True)
class SsoFaults:
    """Switches for tests. Each affects every id_token / response while set."""

    wrong_issuer: bool = False
    wrong_audience: bool = False
    wrong_nonce: bool = False
    expired: bool = False
    bad_signature: bool = False  # signed by another key, under the current kid
    standard_claims_only: bool = False  # no classLink_* claims: the client must call userinfo
    token_status: int | None = None  # e.g. 500: the token endpoint answers that status
    token_delay: float = 0.0  # seconds the token endpoint sleeps before answering
    userinfo_status: int | None = None
    userinfo_delay: float = 0.0


@dataclass(slots=True)
class _Code:
    client_id: str
    redirect_uri: str
    user: SsoUser
    nonce: str | None
    challenge: str | None
    issued_at: float
    issuer: str


@dataclass(slots=True)
class _Key:
    kid: str
    private_key: Any
    public_jwk: dict[str, Any]


def _new_key() -> _Key:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_hex(8)
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return _Key(kid, private_key, jwk)


@dataclass(slots=True)
class _Client:
    secret: str
    redirect_uris: tuple[str, ...] = ()
    local_redirects: bool = False  # any redirect URI on this machine (127.0.0.1, localhost)

    def allows(self, redirect_uri: str) -> bool:
        if self.local_redirects:
            host = urlsplit(redirect_uri).hostname
            return urlsplit(redirect_uri).scheme == "http" and host in ("127.0.0.1", "localhost")
        return not self.redirect_uris or redirect_uri in self.redirect_uris


@dataclass
class ClassLinkSsoApp:
    """The emulator's SSO endpoints (an ``EmulatorApp``)."""

    issuer: str | None = None
    clock: Callable[[], float] = time.time
    faults: SsoFaults = field(default_factory=SsoFaults)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._users: dict[tuple[int, str], SsoUser] = {}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, tuple[SsoUser, float]] = {}
        self._keys: list[_Key] = [_new_key()]
        self._other_key: _Key | None = None
        self._next: tuple[int | None, str] | None = None
        self._deny = False
        self._next_user_id = 1000
        self.calls: dict[str, int] = {"auth": 0, "token": 0, "jwks": 0, "userinfo": 0, "discovery": 0}  # nosec B105 # call counters
        self.issued: list[str] = []  # every code and token handed out (tests check none is logged)

    # -- configuration -------------------------------------------------------------------------
    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: Iterable[str] = (), *, local_redirects: bool = False
    ) -> None:
        """Register the SSO app (our function) with its secret and allowed redirect URIs (any if
        empty; with ``local_redirects`` any http URI on 127.0.0.1 or localhost, whatever the port)."""
        self._clients[client_id] = _Client(client_secret, tuple(redirect_uris), local_redirects)

    def add_user(
        self,
        tenant_id: int | str,
        user: Mapping[str, Any],
        *,
        launchpad_role: str | None = None,
        tenant_name: str = "",
    ) -> SsoUser:
        """Add a user from a OneRoster user dict (``sourcedId``, ``username``, ``email``,
        ``givenName``, ``familyName``, ``role``). ``launchpad_role`` overrides the LaunchPad label
        (e.g. "Tenant Administrator" for staff rostered as teachers)."""
        tenant = int(tenant_id)
        role = launchpad_role or LAUNCHPAD_ROLES.get(str(user.get("role", "")).lower(), "Student")
        with self._lock:
            self._next_user_id += 1
            sso_user = SsoUser(
                tenant_id=tenant,
                sourced_id=str(user["sourcedId"]),
                user_id=self._next_user_id,
                login_id=str(user.get("username") or user["sourcedId"]),
                email=(user.get("email") or None),
                given_name=str(user.get("givenName") or ""),
                family_name=str(user.get("familyName") or ""),
                role=role,
                tenant_name=tenant_name or f"District {tenant}",
            )
            self._users[(tenant, sso_user.sourced_id)] = sso_user
        return sso_user

    def add_users(
        self,
        tenant_id: int | str,
        users: Iterable[Mapping[str, Any]],
        tenant_name: str = "",
        *,
        launchpad_roles: Mapping[str, str] | None = None,
    ) -> None:
        """Add every OneRoster user dict of one tenant (e.g. from the OneRoster dataset). A OneRoster
        ``administrator`` becomes LaunchPad's "Tenant Administrator" (userinfo ``Role``, id_token
        ``classLink_role``: the district portal's sign-in, S6); ``launchpad_roles`` (sourcedId ->
        label) overrides the label of some users, e.g. staff rostered as teachers."""
        roles = launchpad_roles or {}
        for user in users:
            role = roles.get(str(user.get("sourcedId")))
            self.add_user(tenant_id, user, launchpad_role=role, tenant_name=tenant_name)

    def sign_in_as(self, sourced_id: str, tenant_id: int | str | None = None) -> None:
        """Choose who the next authorizations approve (stays until changed); clears ``deny()``."""
        self._next = (None if tenant_id is None else int(tenant_id), sourced_id)
        self._deny = False

    def deny(self, on: bool = True) -> None:
        """Authorizations redirect back with ``error=access_denied`` while on."""
        self._deny = on

    def rotate_key(self, keep_old: bool = False) -> str:
        """Sign with a new key (new kid); the JWKS lists the old key too only if ``keep_old``."""
        key = _new_key()
        with self._lock:
            self._keys = [key, *self._keys] if keep_old else [key]
        return key.kid

    @property
    def current_kid(self) -> str:
        return self._keys[0].kid

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/oauth2/v2/auth"): self._authorize,
            ("POST", "/oauth2/v2/token"): self._token,
            ("GET", "/oauth2/v2/jwks"): self._jwks,
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/v2/my/info"): self._userinfo,
        }
        route = routes.get((request.method.upper(), request.path.rstrip("/") or "/"))
        return route(request) if route else None

    def _issuer_for(self, request: Request) -> str:
        if self.issuer:
            return self.issuer
        parts = urlsplit(request.url)
        return f"{parts.scheme}://{parts.netloc}"

    # -- endpoints -----------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        self.calls["auth"] += 1
        q = dict(request.query)
        client = self._clients.get(q.get("client_id", ""))
        redirect_uri = q.get("redirect_uri", "")
        if client is None or not redirect_uri or not client.allows(redirect_uri):
            return _html(400, "Invalid client or redirect_uri")
        state = q.get("state")
        if self._deny:
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state})
        challenge = q.get("code_challenge")
        if challenge and q.get("code_challenge_method") != "S256":
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state})
        user = self._chosen_user(q.get("as"))
        if user is None:
            return self._picker(request)
        code = secrets.token_urlsafe(24)
        self.issued.append(code)
        with self._lock:
            self._codes[code] = _Code(
                client_id=q["client_id"],
                redirect_uri=redirect_uri,
                user=user,
                nonce=q.get("nonce"),
                challenge=challenge,
                issued_at=self.clock(),
                issuer=self._issuer_for(request),
            )
        return _redirect(redirect_uri, {"code": code, "state": state})

    def _chosen_user(self, as_param: str | None) -> SsoUser | None:
        wanted: tuple[int | None, str] | None = self._next
        if as_param:
            tenant, sep, sourced = as_param.partition(":")
            wanted = (int(tenant), sourced) if sep and tenant.isdigit() else (None, as_param)
        if wanted is None:
            return None
        tenant_id, sourced_id = wanted
        if tenant_id is not None:
            return self._users.get((tenant_id, sourced_id))
        return next((u for (_, s), u in self._users.items() if s == sourced_id), None)

    def _picker(self, request: Request) -> Response:
        base = [(k, v) for k, v in request.query if k != "as"]
        items = "".join(
            f'<li><a href="{html.escape(request.path + "?" + urlencode([*base, ("as", f"{t}:{s}")]))}">'
            f"{html.escape(u.given_name)} {html.escape(u.family_name)} ({html.escape(u.role)}, "
            f"tenant {t}, {html.escape(s)})</a></li>"
            for (t, s), u in sorted(self._users.items())
        )
        return _html(200, f"<h1>ClassLink emulator: who signs in?</h1><ul>{items or '<li>no users</li>'}</ul>")

    def _token(self, request: Request) -> Response:
        self.calls["token"] += 1
        if self.faults.token_delay:
            time.sleep(self.faults.token_delay)
        if self.faults.token_status:
            return _json(self.faults.token_status, {"error": "server_error"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return _json(401, {"error": "invalid_client"})
        client = self._clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), client_secret.encode()):
            return _json(401, {"error": "invalid_client"})
        if form.get("grant_type") != "authorization_code":
            return _json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)  # single use, even when it fails below
        if code is None or self.clock() - code.issued_at > CODE_LIFETIME_SECONDS:
            return _json(400, {"error": "invalid_grant", "error_description": "code unknown, used or expired"})
        if code.client_id != client_id or code.redirect_uri != form.get("redirect_uri"):
            return _json(400, {"error": "invalid_grant", "error_description": "client or redirect_uri mismatch"})
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not verifier or not hmac.compare_digest(digest, code.challenge):
                return _json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        access_token = secrets.token_urlsafe(32)
        id_token = self._id_token(code, client_id)
        self.issued += [access_token, id_token]
        with self._lock:
            self._access[access_token] = (code.user, self.clock() + ACCESS_TOKEN_LIFETIME_SECONDS)
        return _json(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",  # nosec B105 # OAuth's token type, not a token
                "expires_in": ACCESS_TOKEN_LIFETIME_SECONDS,
                "id_token": id_token,
            },
        )

    def _id_token(self, code: _Code, client_id: str) -> str:
        import jwt

        f, user, now = self.faults, code.user, int(self.clock())
        claims: dict[str, Any] = {
            "iss": "https://wrong-issuer.invalid" if f.wrong_issuer else code.issuer,
            "aud": "someone-else" if f.wrong_audience else client_id,
            "sub": str(user.user_id),
            "iat": now - 3600 if f.expired else now,
            "exp": now - 1800 if f.expired else now + ID_TOKEN_LIFETIME_SECONDS,
            "given_name": user.given_name,
            "family_name": user.family_name,
        }
        if user.email:
            claims["email"] = user.email
        if code.nonce is not None:
            claims["nonce"] = "not-the-nonce" if f.wrong_nonce else code.nonce
        if not f.standard_claims_only:
            claims.update(
                classLink_tenant_id=user.tenant_id,
                classLink_sourcedId=user.sourced_id,
                classLink_role=user.role,
            )
        key = self._keys[0]
        signing_key = key.private_key
        if f.bad_signature:
            if self._other_key is None:
                self._other_key = _new_key()
            signing_key = self._other_key.private_key
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": key.kid})

    def _jwks(self, request: Request) -> Response:
        self.calls["jwks"] += 1
        return _json(200, {"keys": [k.public_jwk for k in self._keys]})

    def _discovery(self, request: Request) -> Response:
        self.calls["discovery"] += 1
        iss = self._issuer_for(request)
        base = f"{urlsplit(request.url).scheme}://{urlsplit(request.url).netloc}"
        return _json(
            200,
            {
                "issuer": iss,
                "authorization_endpoint": f"{base}/oauth2/v2/auth",
                "token_endpoint": f"{base}/oauth2/v2/token",
                "userinfo_endpoint": f"{base}/v2/my/info",
                "jwks_uri": f"{base}/oauth2/v2/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "oneroster"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": [
                    "sub", "email", "given_name", "family_name",
                    "classLink_tenant_id", "classLink_sourcedId", "classLink_role",
                ],
            },
        )  # fmt: skip

    def _userinfo(self, request: Request) -> Response:
        self.calls["userinfo"] += 1
        if self.faults.userinfo_delay:
            time.sleep(self.faults.userinfo_delay)
        if self.faults.userinfo_status:
            return _json(self.faults.userinfo_status, {"error": "server_error"})
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        entry = self._access.get(token)
        if entry is None or entry[1] < self.clock():
            return _json(401, {"error": "invalid_token"})
        u = entry[0]
        return _json(
            200,
            {
                "UserId": u.user_id,
                "TenantId": u.tenant_id,
                "SourcedId": u.sourced_id,
                "LoginId": u.login_id,
                "Email": u.email or "",
                "FirstName": u.given_name,
                "LastName": u.family_name,
                "DisplayName": f"{u.given_name} {u.family_name}".strip(),
                "Role": u.role,
                "Tenant": u.tenant_name,
                "ImagePath": "",
                "LanguageId": 1,
                "Language": "en",
            },
        )


def _json(status: int, body: Any) -> Response:
    return Response(
        status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()
    )


def _html(status: int, body: str) -> Response:
    head = "<head><meta charset='utf-8'><title>ClassLink emulator</title></head>"
    page = f"<!doctype html><html>{head}<body>{body}</body></html>"
    return Response(status, {"Content-Type": "text/html; charset=utf-8"}, page.encode())


def _redirect(redirect_uri: str, params: Mapping[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return Response(302, {"Location": f"{redirect_uri}{sep}{query}", "Cache-Control": "no-store"})
