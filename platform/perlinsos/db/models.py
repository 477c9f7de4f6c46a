"""SQLAlchemy models: the platform's records (ARCHITECTURE §4).

Personal data (NIK, names, income and bank flags in decision reasons) lives only in these
tables; what leaves through GraphQL is filtered by :mod:`perlinsos.policy`.
Alembic migrations in ``db/migrations`` must match these models (a test compares them).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from perlinsos.db.types import BigId, Json, UTCDateTime, utcnow

# Stable constraint names, so migrations can address them on both engines.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: Json, list[Any]: Json, datetime: UTCDateTime}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # VARCHAR + CHECK on both engines: adding a value is a plain migration, not an ALTER TYPE.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=20,
                values_callable=lambda e: [m.value for m in e])


class DecisionCause(str, enum.Enum):
    SELECTION = "SELECTION"  # a selection run
    APPEAL = "APPEAL"  # an upheld appeal re-ran it


class Channel(str, enum.Enum):
    SELF = "SELF"
    ASSISTED = "ASSISTED"
    #: filed in person at the village office, recorded by a village operator (appeals only)
    VILLAGE_OFFICE = "VILLAGE_OFFICE"


class Outcome(str, enum.Enum):
    ELIGIBLE = "ELIGIBLE"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    PENDING = "PENDING"


class Verdict(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class NotificationStatus(str, enum.Enum):
    PENDING = "PENDING"
    SENDING = "SENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    DEAD = "DEAD"
    UNDELIVERABLE = "UNDELIVERABLE"


class AppealStatus(str, enum.Enum):
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    UPHELD = "UPHELD"
    DISMISSED = "DISMISSED"
    WITHDRAWN = "WITHDRAWN"


class StaffRole(str, enum.Enum):
    FACILITATOR = "FACILITATOR"
    REVIEWER = "REVIEWER"
    ADMIN = "ADMIN"
    VILLAGE_OPERATOR = "VILLAGE_OPERATOR"


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Household(Timestamps, Base):
    """A family as on its Kartu Keluarga (KK)."""

    __tablename__ = "household"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kk_number: Mapped[str] = mapped_column(String(16), unique=True)
    region_code: Mapped[str] = mapped_column(String(13), index=True)  # village, 35.10.15.2004
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Person(Timestamps, Base):
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    nik: Mapped[str] = mapped_column(String(16), unique=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    region_code: Mapped[str] = mapped_column(String(13), index=True)
    relationship: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Pilot(Timestamps, Base):
    """A rollout of programmes in a set of regions, with its phases and plugin set."""

    __tablename__ = "pilot"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_codes: Mapped[list[Any]] = mapped_column()
    programmes: Mapped[list[Any]] = mapped_column()
    registration_opens_at: Mapped[datetime] = mapped_column()
    registration_closes_at: Mapped[datetime] = mapped_column()
    appeal_opens_at: Mapped[datetime | None] = mapped_column()
    appeal_closes_at: Mapped[datetime | None] = mapped_column()
    languages: Mapped[list[Any]] = mapped_column(default=lambda: ["id", "en"])
    #: plugin name → settings as given in the pilot file (validated on load).
    plugins: Mapped[dict[str, Any]] = mapped_column()
    #: notification texts overriding the platform's: {template: {language: {title, body, short}}}
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: rate limits as given in the pilot file's [limits] (perlinsos.ratelimits); {} is the defaults.
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the pilot file's [notification]: {"channels": ["sms", "facilitator"]}; {} is every enabled channel
    notification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: a training pilot (perlinsos.pilots.training): simulators only, LATIHAN, out of statistics, resettable
    training: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Registration(Base):
    """A household's registration for one programme of one pilot."""

    __tablename__ = "registration"
    __table_args__ = (
        UniqueConstraint("pilot_id", "programme", "household_id", name="uq_registration_household"),
        Index("ix_registration_pilot_region", "pilot_id", "region_code"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilot.id"))
    programme: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    #: village at registration time (denormalised: selection partitions and stats group by it).
    region_code: Mapped[str] = mapped_column(String(13))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "registration_channel"))
    assisted_by: Mapped[str | None] = mapped_column(String(200), index=True)
    #: the facilitator's identity provider: an identity is (issuer, subject), never a bare subject.
    assisted_by_issuer: Mapped[str | None] = mapped_column(String(300))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consent.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """A citizen's consent to access named scopes of their data for a purpose."""

    __tablename__ = "consent"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    scopes: Mapped[list[Any]] = mapped_column()
    purpose: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(20))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "consent_channel"))
    actor: Mapped[str] = mapped_column(String(200))  # identity subject who gave it
    actor_issuer: Mapped[str | None] = mapped_column(String(300))  # ... and its identity provider
    assisted_by: Mapped[str | None] = mapped_column(String(200))
    assisted_by_issuer: Mapped[str | None] = mapped_column(String(300))
    provider_reference: Mapped[str | None] = mapped_column(String(200))
    #: the provider that issued ``provider_reference``: only its own plugins ever receive it.
    provider_issuer: Mapped[str | None] = mapped_column(String(300))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class Decision(Base):
    """One version of the selection outcome for a registration."""

    __tablename__ = "decision"
    __table_args__ = (
        UniqueConstraint("registration_id", "version", name="uq_decision_version"),
        Index("ix_decision_current", "registration_id", "is_current"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"))
    version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "decision_outcome"))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    criteria_versions: Mapped[dict[str, Any]] = mapped_column()
    inputs_digest: Mapped[str] = mapped_column(String(64))
    cause: Mapped[str] = mapped_column(String(20), default="SELECTION")  # a DecisionCause value
    run_id: Mapped[str | None] = mapped_column(String(36))
    #: the facts and registrant data the decision was made from (reproducible; what-if previews).
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column()


class DecisionReason(Base):
    """The result of one criterion in one decision: the "why" a citizen is shown."""

    __tablename__ = "decision_reason"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "reason_verdict"))
    observed: Mapped[dict[str, Any] | None] = mapped_column(Json)  # {"value": ...}
    limit: Mapped[dict[str, Any] | None] = mapped_column(Json)
    source: Mapped[str | None] = mapped_column(String(100))
    as_of: Mapped[date | None] = mapped_column(Date)
    criterion_version: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    #: the texts the citizen was given, per language, as rendered when the decision was made.
    messages: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class SelectionRun(Base):
    """One selection pass over a pilot's registrations; chunks commit with its progress, so a
    crashed run resumes after the last committed chunk."""

    __tablename__ = "selection_run"
    __table_args__ = (Index("ix_selection_run_pilot", "pilot_id", "status"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilot.id"))
    programme: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "selection_run_status"), default=RunStatus.RUNNING)
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    last_registration_id: Mapped[int] = mapped_column(BigId, default=0)
    #: processed, decided, unchanged, outcomes {...}, failed reasons {...}
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class PartitionStatus(str, enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"


class SelectionPartition(Base):
    """A share of a selection run — one village, or neighbouring small villages packed together —
    that selection workers claim (a lease, renewed with every committed chunk; a dead worker's
    partition is taken over when it runs out)."""

    __tablename__ = "selection_partition"
    __table_args__ = (
        UniqueConstraint("run_id", "region_code", name="uq_selection_partition_region"),
        Index("ix_selection_partition_claim", "run_id", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("selection_run.id", ondelete="CASCADE"))
    region_code: Mapped[str] = mapped_column(String(13))  # its first village (kode wilayah)
    #: every village of the partition; a village is never split between partitions
    region_codes: Mapped[list[Any]] = mapped_column()
    status: Mapped[PartitionStatus] = mapped_column(_enum(PartitionStatus, "selection_partition_status"),
                                                    default=PartitionStatus.PENDING)
    #: the worker holding (or, once DONE, that finished) the partition
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column()
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    #: claims so far; a worker's writes are conditional on it, so a stale worker writes nothing
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: registrations in its villages when the run began (claims take the largest first)
    total: Mapped[int] = mapped_column(Integer, default=0)
    last_registration_id: Mapped[int] = mapped_column(BigId, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    decided: Mapped[int] = mapped_column(Integer, default=0)
    #: the partition's share of the run's counts (outcomes, reasons), summed into the run's
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    finished_at: Mapped[datetime | None] = mapped_column()


class Notification(Base):
    """An outbox row: written with the event that causes it, delivered at least once."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    #: the pilot whose channels and texts deliver it
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilot.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"), index=True)
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))  # "portal", "sms", ...
    recipient: Mapped[str | None] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(60))
    language: Mapped[str] = mapped_column(String(5), default="id")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    provider_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()


class Appeal(Base):
    """A sanggah: the NIK owner's dispute of a decision, and its review."""

    __tablename__ = "appeal"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), index=True)
    appellant_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "appeal_channel"))
    assisted_by: Mapped[str | None] = mapped_column(String(200))
    assisted_by_issuer: Mapped[str | None] = mapped_column(String(300))
    ground: Mapped[str] = mapped_column(String(40))
    disputed_reasons: Mapped[list[Any]] = mapped_column()
    statement: Mapped[str] = mapped_column(Text)
    comparison_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[AppealStatus] = mapped_column(
        _enum(AppealStatus, "appeal_status"), default=AppealStatus.SUBMITTED
    )
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewer_issuer: Mapped[str | None] = mapped_column(String(300))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    corrected_facts: Mapped[dict[str, Any] | None] = mapped_column(Json)
    resulting_decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_due_at: Mapped[datetime] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    #: optimistic concurrency: every workflow step is an UPDATE conditional on it (appeals/review.py),
    #: so of two reviewers acting at once one wins and the other gets a conflict.
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class EvidenceFile(Base):
    """A file attached to an appeal, stored by its sha256 outside any served directory."""

    __tablename__ = "evidence_file"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # KTP, KK, ELECTRICITY_BILL, ...
    filename: Mapped[str] = mapped_column(String(255))  # sanitised
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the content
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_by_issuer: Mapped[str | None] = mapped_column(String(300))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppealAttestation(Base):
    """What a village operator saw when the NIK owner filed in person (the owner present, their
    KTP, an original document): no image, the operator's word, with who and when."""

    __tablename__ = "appeal_attestation"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))  # OWNER_PRESENT, KTP_SEEN, KK_SEEN, DOCUMENT_SEEN:<kind>
    attested_by: Mapped[str] = mapped_column(String(200))
    attested_by_issuer: Mapped[str | None] = mapped_column(String(300))
    attested_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffAssignment(Timestamps, Base):
    """A staff member's role within a region of one pilot, or national (no pilot: only for
    subjects of a national identity provider). Matched on (issuer, subject), never the bare subject."""

    __tablename__ = "staff_assignment"
    __table_args__ = (Index("ix_staff_assignment_issuer_subject", "issuer", "subject"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))  # the identity provider (OpenID issuer)
    subject: Mapped[str] = mapped_column(String(200), index=True)  # identity provider subject
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    region_code: Mapped[str] = mapped_column(String(13))
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilot.id"))
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column()


class IdentityLink(Base):
    """A regional sign-in identity whose NIK a national provider confirmed (through a consent
    grant for that NIK). Until then a regional provider's NIK claim opens no records."""

    __tablename__ = "identity_link"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_identity_link"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(200))
    nik: Mapped[str] = mapped_column(String(16), index=True)
    confirmed_by: Mapped[str] = mapped_column(String(300))  # the national issuer that confirmed it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Append-only log of state changes and reads of personal data, chained by hashes."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(100))  # every role, comma-separated
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(40))
    #: whose personal data was touched, so a citizen can see who accessed it.
    subject_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    purpose: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: position in the hash chain: gap-free, in commit order (ids are not: PostgreSQL sequences
    #: are handed out at insert time, and concurrent transactions commit in another order).
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The audit chain's last link (one row): appends lock it, so they form one chain."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class RateLimitWindow(Base):
    """How often one identity did one costly action in one pilot during one fixed window
    (:mod:`perlinsos.ratelimits`). Disposable: rows whose window ended are deleted as new ones open."""

    __tablename__ = "rate_limit_window"
    pilot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # no FK: counters only
    action: Mapped[str] = mapped_column(String(40), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)  # citizen | facilitator
    issuer: Mapped[str] = mapped_column(String(300), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds (exact key)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds: the window's end


class SchemaCompat(Base):
    """One row, written by ``perlinsos db upgrade``/``downgrade``: the oldest code revision that may
    still serve on this schema (rolling upgrades; :mod:`perlinsos.db.migrate`)."""

    __tablename__ = "schema_compat"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    min_code_revision: Mapped[str] = mapped_column(String(32))


class ClientKey(Base):
    """A retry-safe mutation's client key (:mod:`perlinsos.idempotency`): per identity, what it was
    used for (operation and a digest of the input) and what it answered (the entity made)."""

    __tablename__ = "client_key"
    issuer: Mapped[str] = mapped_column(String(300), primary_key=True)  # "" when the identity has none
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    operation: Mapped[str] = mapped_column(String(60))
    fingerprint: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    response: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    completed_at: Mapped[datetime | None] = mapped_column()
