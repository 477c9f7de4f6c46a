"""What the simulated identity provider remembers: keys, consent grants, faults, counters."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from perlinsos_ikd.households import SCOPES, Household, Member
from perlinsos_ikd.population import Population
from perlinsos_ikd.simulator.keys import KeyRing

DEFAULT_CONSENT_SECONDS = 365 * 24 * 3600


@dataclass
class Grant:
    grant_id: str
    nik: str
    scopes: tuple[str, ...]
    purpose: str
    policy_version: str | None
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    idempotency_key: str | None = None  # the platform's key for the request that created it

    def live(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and (now or datetime.now(UTC)) < self.expires_at

    def as_json(self) -> dict[str, Any]:
        return {"grant_id": self.grant_id, "nik": self.nik, "scopes": list(self.scopes), "purpose": self.purpose,
                "policy_version": self.policy_version, "granted_at": self.granted_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


FAULT_MODES = (None, "down", "slow", "garbage", "cut")


@dataclass
class Faults:
    #: None | "down" (503) | "slow" (wait, then act) | "garbage" (an invalid body, nothing done)
    #: | "cut" (act, then close the connection without an answer: the caller never learns the result)
    mode: str | None = None
    delay_seconds: float = 0.0
    #: path prefixes, optionally after a method ("POST /consents"); empty = every provider endpoint (never /sim/)
    paths: tuple[str, ...] = ()

    def applies(self, path: str, method: str = "GET") -> bool:
        if self.mode is None or path.startswith("/sim/"):
            return False
        return not self.paths or any(path.startswith(p) or f"{method} {path}".startswith(p) for p in self.paths)


@dataclass
class SimulatorState:
    population: Population
    issuer: str
    audience: str
    client_secret: str
    base_url: str  # where the endpoints are served (the issuer unless told otherwise)
    token_seconds: int = 3600
    keys: KeyRing = field(default_factory=KeyRing)
    grants: dict[str, Grant] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key → grant id
    revoked_keys: set[str] = field(default_factory=set)  # keys revoked before (or without) a grant
    faults: Faults = field(default_factory=Faults)
    stats: Counter = field(default_factory=Counter)
    _subject_key: bytes = b""

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        # Stable across restarts with the same seed, and not the NIK (OIDC wants an opaque subject).
        self._subject_key = hashlib.sha256(f"ikd-sim-subject/{self.population.seed}".encode()).digest()

    def subject(self, nik: str) -> str:
        return "ikd-" + hashlib.blake2b(nik.encode(), key=self._subject_key, digest_size=12).hexdigest()

    # --- tokens --------------------------------------------------------------------------------

    def claims(self, *, member: Member | None = None, staff_id: str | None = None, name: str | None = None,
               expires_in: int | None = None) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now,
            "exp": now + (expires_in or self.token_seconds), "auth_time": now, "jti": uuid.uuid4().hex,
        }
        if member is not None:
            claims |= {"sub": self.subject(member.nik), "nik": member.nik, "name": member.name, "kind": "citizen"}
        else:
            claims |= {"sub": staff_id, "name": name or staff_id, "kind": "staff"}
        return claims

    def tokens(self, claims: dict[str, Any]) -> dict[str, Any]:
        # RFC 9068: the access token says so in its header; the ID token is a plain JWT, which the
        # platform refuses as a credential
        access = dict(claims, jti=uuid.uuid4().hex, scope="openid profile", client_id=self.audience)
        return {
            "id_token": self.keys.sign(claims, headers={"typ": "JWT"}),
            "access_token": self.keys.sign(access, headers={"typ": "at+jwt"}),
            "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"],
        }

    def verify(self, token: str) -> dict[str, Any]:
        return self.keys.verify(token, issuer=self.issuer, audience=self.audience)

    # --- consents -------------------------------------------------------------------------------

    def grant(self, nik: str, scopes: list[str], purpose: str, policy_version: str | None,
              seconds: int = DEFAULT_CONSENT_SECONDS, key: str | None = None) -> Grant:
        now = datetime.now(UTC).replace(microsecond=0)
        grant = Grant(f"grant_{secrets.token_urlsafe(18)}", nik, tuple(dict.fromkeys(scopes)), purpose,
                      policy_version, now, now + timedelta(seconds=seconds), idempotency_key=key)
        self.grants[grant.grant_id] = grant
        if key is not None:
            self.by_key[key] = grant.grant_id
        return grant

    def granted_for(self, key: str) -> Grant | None:
        """The grant an earlier request with this idempotency key created."""
        return self.grants.get(self.by_key.get(key, ""))

    def revoke_key(self, key: str) -> Grant | None:
        """Revoke the grant made with ``key``; a key seen without a grant is remembered, so a
        request still in flight with it (a slow one the caller gave up on) creates nothing."""
        grant = self.granted_for(key)
        if grant is None:
            self.revoked_keys.add(key)
        elif grant.revoked_at is None:
            grant.revoked_at = datetime.now(UTC).replace(microsecond=0)
        return grant

    def live_grant(self, grant_id: str | None, nik: str, scope: str | None = None) -> Grant | None:
        grant = self.grants.get(grant_id or "")
        if grant is None or grant.nik != nik or not grant.live():
            return None
        if scope is not None and scope not in grant.scopes:
            return None
        return grant

    def secret_ok(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        given = value.strip().encode()
        return scheme.lower() == "bearer" and secrets.compare_digest(given, self.client_secret.encode())


def person_json(household: Household, member: Member) -> dict[str, Any]:
    """The population record the consented person API returns."""
    return {
        "nik": member.nik, "name": member.name, "birth_date": member.birth_date.isoformat(), "sex": member.sex,
        "relationship": member.relationship, "region_code": household.region_code, "village": household.village,
        "district": household.district, "kk_number": household.kk_number, "address": household.address,
        "phone": member.phone,
        "members": [{"nik": m.nik, "name": m.name, "birth_date": m.birth_date.isoformat(), "sex": m.sex,
                     "relationship": m.relationship} for m in household.members],
    }


def facts_json(household: Household, scopes: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": f.name, "scope": f.scope, "source": f.source, "as_of": f.as_of.isoformat(), "value": f.value,
             "members": dict(f.members)} for f in household.facts if f.scope in scopes]


def sim_person_json(population: Population, household: Household, member: Member) -> dict[str, Any]:
    """A person as /sim/people lists them: the record plus what tests and demos need to know."""
    return {
        **{k: v for k, v in person_json(household, member).items() if k != "members"},
        "age": member.age(population.as_of), "phone_invalid": member.phone_invalid,
        "household": household.index, "household_size": len(household.members),
        "pkh_reasons": list(household.pkh_reasons()),
        "pkh_reasons_corrected": list(household.pkh_reasons(corrected=True)),
        "data_errors": [{"kind": e.kind, "fact": e.fact, "nik": e.nik, "recorded": e.recorded, "actual": e.actual,
                         "note": e.note} for e in household.data_errors],
        "ground_truth": dict(household.ground_truth),
    }


__all__ = ["FAULT_MODES", "SCOPES", "Faults", "Grant", "SimulatorState", "facts_json", "person_json", "sim_person_json"]
