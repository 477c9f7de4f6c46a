"""Value types that cross the plugin contract (:mod:`perlinsos.hookspecs`).

They are plain frozen dataclasses so plugins can build them without touching the database or
GraphQL, and so the platform can validate what a plugin hands back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable


class Role(str, enum.Enum):
    CITIZEN = "CITIZEN"
    FACILITATOR = "FACILITATOR"
    REVIEWER = "REVIEWER"
    ADMIN = "ADMIN"
    #: records appeals the NIK owner brings in person to the village office (its villages only)
    VILLAGE_OPERATOR = "VILLAGE_OPERATOR"


@dataclass(frozen=True)
class StaffScope:
    """A staff role limited to a region (``35.10`` regency, ``35.10.15`` district, village)."""

    role: Role
    region_code: str
    pilot_code: str | None = None  # None: a national assignment (only a national provider's subjects)
    pilot_id: int | None = None


@dataclass(frozen=True)
class Principal:
    """Who is making a request, as an identity plugin established it.

    ``subject`` is the identity provider's stable subject id. A citizen carries their ``nik``;
    staff carry their role assignments (loaded from the database by the platform, so an identity
    plugin only needs to say *who* signed in, not what they may do).
    """

    subject: str
    kind: str  # "citizen" | "staff"
    # Kept out of repr(): a principal in a log line or traceback must not leak a NIK or claims.
    nik: str | None = field(default=None, repr=False)
    name: str | None = field(default=None, repr=False)
    issuer: str | None = None
    auth_time: datetime | None = None
    scopes: tuple[StaffScope, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: set by the platform: the NIK a regional provider claims, until a national provider confirms
    #: it (``nik`` is ``None`` meanwhile, so the claim opens no records).
    claimed_nik: str | None = field(default=None, repr=False)

    @property
    def identity(self) -> tuple[str | None, str]:
        """Who this is, across providers: (issuer, subject). Never compare bare subjects."""
        return (self.issuer, self.subject)

    @property
    def is_citizen(self) -> bool:
        return self.kind == "citizen"

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    def roles(self) -> set[Role]:
        roles = {s.role for s in self.scopes}
        if self.is_citizen:
            roles.add(Role.CITIZEN)
        return roles


#: What an identity provider can do for a pilot (ARCHITECTURE §3, trust model). A pilot may take each
#: from a different provider: a regional SSO to sign in, IKD for consent, the person record and facts.
SIGN_IN = "sign_in"
CONSENT = "consent"
PERSON = "person"
FACTS = "facts"
CAPABILITIES = (SIGN_IN, CONSENT, PERSON, FACTS)


@dataclass(frozen=True)
class IdentityProvider:
    """An identity provider a plugin speaks for in a pilot, and what it does there.

    ``issuer`` is the provider's OpenID issuer exactly as its tokens carry it in ``iss``; an
    identity is always the pair (issuer, subject). ``capabilities`` is a subset of
    :data:`CAPABILITIES`: ``sign_in`` (its tokens authenticate people), ``consent`` (it issues
    consent grants), ``person`` (it serves the population record under its own grants) and
    ``facts`` (it serves facts under its own grants). A source only ever receives grants its own
    provider issued.
    """

    issuer: str
    name: str
    capabilities: frozenset[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        unknown = self.capabilities - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown identity capability: {', '.join(sorted(unknown))}")

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass(frozen=True)
class ConsentScope:
    """A scope of personal data a citizen may consent to, declared by the plugin that reads it.

    ``code`` is e.g. ``"facts:land"``; ``purpose`` says what it is read for (shown to staff and in
    the audit); ``text`` is what the citizen reads before consenting, per language (``id`` and
    ``en`` at least).
    """

    code: str
    purpose: str
    text: Mapping[str, str]


@dataclass(frozen=True)
class ConsentGrant:
    """A live consent a plugin may act under (scopes, purpose, policy version)."""

    nik: str
    scopes: tuple[str, ...]
    purpose: str
    policy_version: str
    given_at: datetime
    expires_at: datetime | None = None
    reference: str | None = None  # the identity provider's grant id, when it issues one
    #: the provider that issued ``reference`` (its OpenID issuer); only that provider's plugins
    #: ever see the reference.
    issuer: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class HouseholdMember:
    nik: str
    name: str
    birth_date: date | None = None
    sex: str | None = None
    relationship: str | None = None


@dataclass(frozen=True)
class PersonRecord:
    """A population record (Dukcapil/IKD) for one NIK, with the household on its KK."""

    nik: str
    name: str
    birth_date: date
    sex: str
    region_code: str  # village code, e.g. 35.10.15.2004
    kk_number: str
    phone: str | None = None
    address: str | None = None
    members: tuple[HouseholdMember, ...] = ()


@dataclass(frozen=True)
class RegistrantRef:
    """One registrant handed to batch hooks: enough to look facts up, nothing more."""

    registration_id: int
    nik: str
    kk_number: str
    region_code: str
    programme: str
    member_niks: tuple[str, ...] = ()
    consent: ConsentGrant | None = None


@dataclass(frozen=True)
class Fact:
    """One observed fact about a registrant, with where it came from and how fresh it is.

    ``value`` is ``None`` with an ``error`` when the source could not answer: criteria then
    evaluate to UNKNOWN and the outcome is PENDING, never a rejection.
    """

    registration_id: int
    name: str  # e.g. "monthly_income", "electricity_va"
    value: Any
    source: str  # e.g. "BPJS Ketenagakerjaan"
    as_of: date | None = None
    error: str | None = None


class Verdict(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class CriterionResult:
    code: str
    verdict: Verdict
    observed: Any = None
    limit: Any = None
    source: str | None = None
    as_of: date | None = None
    detail: str | None = None


@runtime_checkable
class Criterion(Protocol):
    """An eligibility criterion: a reason code, a version and an ``evaluate`` over facts."""

    code: str
    version: str

    def evaluate(self, facts: Mapping[str, Fact], registrant: RegistrantRef) -> CriterionResult: ...


@dataclass(frozen=True)
class OutgoingMessage:
    """One outbox row, rendered for a channel. ``idempotency_key`` is the same on every attempt:
    a gateway that saw it already must not send again."""

    notification_id: int
    idempotency_key: str
    recipient: str  # the channel's address, from ``Channel.recipient_for`` (e.g. +6281234567890)
    template: str  # DECISION_ELIGIBLE, DECISION_NOT_ELIGIBLE, DECISION_PENDING, APPEAL_* ...
    language: str
    title: str
    body: str  # the full text (every reason)
    short: str  # outcome and main reason, masked NIK, where to read more: sized for an SMS
    params: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    provider_reference: str | None = None
    error: str | None = None
    permanent: bool = False  # e.g. a number the gateway refuses: retrying will not help
    #: "DELIVERED" or "FAILED" when the gateway already knows the message's fate: a re-send it
    #: recognised (same idempotency key) after the first attempt's result and delivery report were lost
    delivery_status: str | None = None


@runtime_checkable
class Channel(Protocol):
    """A notification channel (SMS, WhatsApp, e-mail ...) that delivers outbox rows.

    ``recipient_for`` raises :class:`perlinsos.errors.Undeliverable` when the person has no
    usable address (the portal inbox still gets the message); ``send`` returns a
    :class:`DeliveryResult` — raising counts as a temporary failure, retried with back-off.
    """

    name: str

    def recipient_for(self, person: Mapping[str, Any]) -> str: ...

    async def send(self, message: OutgoingMessage) -> DeliveryResult: ...


@dataclass(frozen=True)
class AppealGround:
    """A ground of appeal (sanggah). The ``appealGrounds`` query describes it to frontends, so an
    appeal form is built from it alone: the optional fields below only add to that description."""

    code: str  # e.g. NIK_MISUSE
    disputable_reasons: tuple[str, ...]
    required_evidence: tuple[str, ...] = ()
    comparison_fields: Mapping[str, str] = field(default_factory=dict)  # field → "str", "int" or "date"
    title: Mapping[str, str] = field(default_factory=dict)  # language → text
    #: field → language → label shown beside the input (``id`` and ``en``); the field name otherwise
    comparison_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: disputed reason → the comparison fields it requires (a reviewer needs them to check it)
    required_comparison: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class AppealDraft:
    decision_id: int
    ground: str
    disputed_reasons: tuple[str, ...]
    statement: str
    comparison_data: Mapping[str, Any]
    evidence_kinds: tuple[str, ...] = ()
    appellant_nik: str | None = None
    assisted_by: str | None = None


@dataclass(frozen=True)
class AppealProblem:
    """Why a plugin refuses an appeal: a machine code and a message per language."""

    code: str
    message: Mapping[str, str]
    field: str | None = None


@dataclass(frozen=True)
class SchemaPart:
    """GraphQL a plugin contributes: extra root fields and the types they need.

    ``query_fields``/``mutation_fields`` map a field name to a ``strawberry.field`` /
    ``strawberry.mutation``. A name contributed twice (by the core or another plugin) is a
    start-up error.
    """

    query_fields: Mapping[str, Any] = field(default_factory=dict)
    mutation_fields: Mapping[str, Any] = field(default_factory=dict)
    types: Sequence[type] = ()


@dataclass(frozen=True)
class PilotContext:
    """The pilot a hook runs for: its identity, scope and each enabled plugin's settings."""

    id: int | None
    code: str
    name: str
    region_codes: tuple[str, ...]
    programmes: tuple[str, ...]
    plugins: Mapping[str, Any]  # plugin name → validated settings (model instance or dict)
    phases: Mapping[str, Any] = field(default_factory=dict)
    #: a training pilot (LATIHAN): a plugin must reach simulators only and mark what it sends
    training: bool = False

    def settings_for(self, plugin: str) -> Any:
        """The settings this pilot gives ``plugin`` (``None`` when the plugin is not enabled)."""
        return self.plugins.get(plugin)

    def enables(self, plugin: str) -> bool:
        return plugin in self.plugins
