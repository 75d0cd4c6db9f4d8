"""Who is calling: API keys (stored as SHA-256 hashes) and verified JWT bearer tokens, per client.

A client has a name, scopes, the connections it may see, its persisted-document policy and its
rate limit. Every failure to authenticate is the same UNAUTHENTICATED answer, whatever went wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from providers.errors import ErrorCode
from server.errors import RequestError

SCOPES = ("orders:read", "results:write")
ALL_CONNECTIONS = "*"
RATE_LIMIT_MAX = 1_000_000  # requests per minute; a bucket above it is no limit at all


class ClientConfig(BaseModel):
    """One `[[clients]]` entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    api_key_sha256: tuple[str, ...] = ()  # hex SHA-256 of each API key the client may present
    jwt_subjects: tuple[str, ...] = ()  # `sub` (or `client_id`/`azp`) claims that identify it
    scopes: tuple[str, ...] = ()
    connections: tuple[str, ...] = ()  # connection ids it may see; "*" for all
    safelist: StrictBool = False  # only operations of its `documents` manifests run
    require_persisted_id: StrictBool = False  # with safelist: full text is refused even when listed
    documents: tuple[str, ...] = ()  # names of the [[persisted_documents]] sources it may use
    introspection: StrictBool | None = None  # default: on outside production
    gateway: StrictBool = False  # a federation gateway: may fetch _service and call _entities
    rate_limit_per_minute: int | None = Field(None, ge=1, le=RATE_LIMIT_MAX)


class AuthSettings(BaseModel):
    """`[auth]`: JWT verification and the explicit anonymous opt-in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    anonymous: StrictBool = False  # requests without credentials get every scope and connection
    jwt_hs256_secret: str | None = None
    jwt_jwks_file: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: float = Field(0, ge=0, le=3_600)


@dataclass(frozen=True)
class Principal:
    """The caller of one request, after authentication."""

    name: str
    scopes: frozenset[str]
    connections: frozenset[str] | None  # None: every connection
    client: ClientConfig | None = None  # None: anonymous (open sandbox or explicit opt-in)

    def has_scopes(self, any_of: tuple[tuple[str, ...], ...]) -> bool:
        return not any_of or any(set(group) <= self.scopes for group in any_of)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def unauthenticated() -> RequestError:
    return RequestError(
        ErrorCode.UNAUTHENTICATED, "Authentication failed.", 401, headers={"WWW-Authenticate": "Bearer"}
    )


def principal_of(client: ClientConfig, token_scopes: frozenset[str] | None = None) -> Principal:
    scopes = frozenset(client.scopes) if token_scopes is None else frozenset(client.scopes) & token_scopes
    connections = None if ALL_CONNECTIONS in client.connections else frozenset(client.connections)
    return Principal(client.name, scopes, connections, client)


ANONYMOUS = Principal("anonymous", frozenset(SCOPES), None, None)


class Authenticator:
    """Maps request headers to a Principal, or raises UNAUTHENTICATED (401)."""

    def __init__(self, auth: AuthSettings, clients: tuple[ClientConfig, ...], *, open_access: bool) -> None:
        self.auth = auth
        self.open = open_access or auth.anonymous
        # The principal of each key digest, built once (a key's client never changes while running).
        self._by_key = {h.lower(): principal_of(c) for c in clients for h in c.api_key_sha256}
        self._by_subject = {s: c for c in clients for s in c.jwt_subjects}
        self._jwks = jwt.PyJWKSet.from_json(Path(auth.jwt_jwks_file).read_text()) if auth.jwt_jwks_file else None
        self._jwks_client = jwt.PyJWKClient(auth.jwt_jwks_url, lifespan=300) if auth.jwt_jwks_url else None

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        api_key = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if api_key is not None:
            principal = self._by_key.get(hash_api_key(api_key.strip()))
            if principal is None:
                raise unauthenticated()
            return principal
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise unauthenticated()
            return await self._bearer(token.strip())
        if self.open:
            return ANONYMOUS
        raise unauthenticated()

    async def _bearer(self, token: str) -> Principal:
        try:
            claims = await self._verify(token)
        except (jwt.PyJWTError, ValueError, KeyError, OSError):
            raise unauthenticated() from None
        subject = claims.get("sub") or claims.get("client_id") or claims.get("azp")
        client = self._by_subject.get(str(subject)) if subject is not None else None
        if client is None:
            raise unauthenticated()
        return principal_of(client, _token_scopes(claims))

    async def _verify(self, token: str) -> dict[str, Any]:
        algorithm = jwt.get_unverified_header(token).get("alg")
        key: Any
        if algorithm == "HS256" and self.auth.jwt_hs256_secret:
            key = self.auth.jwt_hs256_secret
        elif algorithm == "RS256" and self._jwks is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._jwks[kid].key if kid else self._jwks.keys[0].key
        elif algorithm == "RS256" and self._jwks_client is not None:
            key = (await asyncio.to_thread(self._jwks_client.get_signing_key_from_jwt, token)).key
        else:
            raise ValueError("no key for this algorithm")
        options = {"require": ["exp"], "verify_aud": self.auth.jwt_audience is not None}
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[algorithm], audience=self.auth.jwt_audience, issuer=self.auth.jwt_issuer,
            leeway=self.auth.jwt_leeway_seconds, options=options,  # type: ignore[arg-type]
        )  # fmt: skip
        return claims


_SCOPE_CLAIMS = ("scope", "scp")


def _token_scopes(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The token's own scopes; None when it names none (the client's scopes then apply).

    `scope` and `scp` may each be a space-delimited string or a list of strings; when both are
    present they must name the same scopes. Any other shape raises UNAUTHENTICATED.
    """
    named = [_scope_set(claims[claim]) for claim in _SCOPE_CLAIMS if claim in claims]
    if not named:
        return None
    if any(scopes != named[0] for scopes in named[1:]):
        raise unauthenticated()
    return named[0]


def _scope_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(part for item in value for part in item.split())
    raise unauthenticated()


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """A token bucket per client (this instance's share; one instance, one bucket)."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, key: str, per_minute: int) -> None:
        now = self.clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(per_minute), now))
        rate = per_minute / 60.0
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        retry_after = max(1, math.ceil((1 - bucket.tokens) / rate))
        raise RequestError(
            ErrorCode.REQUEST_RATE_LIMITED, "Too many requests.", 429,
            headers={"Retry-After": str(retry_after)}, extensions={"retryAfter": retry_after},
        )  # fmt: skip
