"""Deployment settings, read from ``PERLINSOS_*`` environment variables.

Everything has an embedded default (a SQLite file in the working directory, development mode),
so ``perlinsos serve`` runs on a fresh machine with no configuration at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_SQLITE_FILE = "perlinsos.db"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None


def _float(name: str, value: str | None, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    if value is None or value == "":
        return choices[0]
    if value.strip().lower() not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value.strip().lower()


class SettingsError(ValueError):
    """A deployment setting is malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_SQLITE_FILE}"
    #: production switch: no GraphiQL, no introspection, no field suggestions.
    production: bool = False
    #: pilot used for requests that name none (header ``X-Perlinsos-Pilot``).
    default_pilot: str | None = None
    #: extra plugin modules (import paths) registered beside the entry points.
    extra_plugins: tuple[str, ...] = field(default_factory=tuple)
    #: plugin names (entry points) to leave unloaded, e.g. to run without a built-in.
    disabled_plugins: tuple[str, ...] = field(default_factory=tuple)
    max_page_size: int = 100
    max_query_depth: int = 12
    #: aliases and cost are counted with fragments expanded (perlinsos.graphql.limits)
    max_aliases: int = 30
    #: 1 per field, times the page size under a connection (`first`)
    max_query_cost: int = 10_000
    max_document_bytes: int = 20_000
    #: lexical tokens the parser reads before giving up (parse time follows tokens, not bytes)
    max_document_tokens: int = 3_000
    #: a whole /graphql request body (document + variables); refused with 413 before parsing
    max_request_bytes: int = 100_000
    #: nesting of objects/lists inside the variables
    max_variables_depth: int = 20
    #: websocket operations in flight at once: per connection, and per signed-in user (issuer,
    #: subject) over all their connections to one process
    max_subscriptions_per_connection: int = 10
    max_subscriptions_per_user: int = 20
    sqlite_busy_timeout_ms: int = 15_000
    #: PostgreSQL: seconds to connect, to run one statement (requests; 0 = no limit), to run one
    #: statement of a worker (selection, dispatchers), and to wait for a pooled connection
    db_connect_timeout_seconds: float = 10.0
    db_statement_timeout_seconds: float = 30.0
    db_worker_statement_timeout_seconds: float = 600.0
    db_pool_timeout_seconds: float = 10.0
    #: seconds `select` workers and dispatchers wait out a database outage before giving up
    db_outage_patience_seconds: float = 600.0
    #: /health/ready answers 503 when the database has not answered within this many seconds
    health_timeout_seconds: float = 2.0
    #: where citizens read their full results (notifications point there)
    portal_url: str = "http://127.0.0.1:8600"
    #: run the outbox dispatcher inside `perlinsos serve` (the embedded default; off when separate
    #: `perlinsos notify run` workers deliver)
    dispatcher_in_process: bool = True
    #: seconds a pilot's settings are reused before re-reading them (admin edits show this fast).
    pilot_cache_seconds: float = 5.0
    #: complete plain fields inline (perlinsos.graphql.execution); off = graphql-core's own path.
    fast_execution: bool = True
    #: appeal evidence files, stored by sha256 (relative to the working directory; never served as-is).
    evidence_dir: str = "var/evidence"
    #: largest evidence file accepted (bytes) and how many not-yet-attached files a citizen may hold.
    max_evidence_bytes: int = 5 * 1024 * 1024
    max_evidence_files: int = 5
    #: plugins whose identity providers are national (IKD): only their subjects may hold national
    #: staff assignments (no pilot), and only they confirm a regional sign-in's NIK.
    national_providers: tuple[str, ...] = ("ikd",)
    #: when set, the exact issuers a national plugin may be configured with; a pilot naming another
    #: is refused when loaded (recommended in production).
    national_issuers: tuple[str, ...] = ()
    #: a newer Kemendagri region list (CSV code,name) replacing the shipped one; perlinsos.regions
    #: reads the variable itself (the list is loaded lazily, once per process)
    regions_file: str | None = None
    #: serve Prometheus metrics at /metrics; a token (scrapes send it as a bearer token) also turns
    #: them on, and production requires one (docs/operations/observability.md)
    metrics: bool = False
    metrics_token: str | None = None
    #: "text" (the server's own format) or "json" (one object per line, one line per request)
    log_format: str = "text"
    #: trusted documents (perlinsos.graphql.trusted): "off", "allow" or "require"; unset, "require" in
    #: production and "allow" in development. The manifest (hash → document) defaults to the
    #: repository's schema/persisted-documents.json; the roles may still send any document.
    trusted_documents: str | None = None
    trusted_documents_manifest: str | None = None
    trusted_documents_roles: tuple[str, ...] = ("ADMIN",)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if env is None else env)

        def get(name: str) -> str | None:
            return env.get(f"PERLINSOS_{name}")

        def split(value: str | None) -> tuple[str, ...]:
            return tuple(p.strip() for p in (value or "").split(",") if p.strip())

        settings = cls(
            database_url=get("DATABASE_URL") or cls.database_url,
            production=_bool(get("PRODUCTION"), False),
            fast_execution=_bool(get("FAST_EXECUTION"), True),
            pilot_cache_seconds=_float("PERLINSOS_PILOT_CACHE_SECONDS", get("PILOT_CACHE_SECONDS"),
                                       cls.pilot_cache_seconds),
            health_timeout_seconds=_float("PERLINSOS_HEALTH_TIMEOUT_SECONDS", get("HEALTH_TIMEOUT_SECONDS"),
                                          cls.health_timeout_seconds),
            sqlite_busy_timeout_ms=_int("PERLINSOS_SQLITE_BUSY_TIMEOUT_MS", get("SQLITE_BUSY_TIMEOUT_MS"),
                                        cls.sqlite_busy_timeout_ms),
            db_connect_timeout_seconds=_float("PERLINSOS_DB_CONNECT_TIMEOUT_SECONDS",
                                              get("DB_CONNECT_TIMEOUT_SECONDS"), cls.db_connect_timeout_seconds),
            db_statement_timeout_seconds=_float("PERLINSOS_DB_STATEMENT_TIMEOUT_SECONDS",
                                                get("DB_STATEMENT_TIMEOUT_SECONDS"), cls.db_statement_timeout_seconds),
            db_worker_statement_timeout_seconds=_float(
                "PERLINSOS_DB_WORKER_STATEMENT_TIMEOUT_SECONDS", get("DB_WORKER_STATEMENT_TIMEOUT_SECONDS"),
                cls.db_worker_statement_timeout_seconds),
            db_pool_timeout_seconds=_float("PERLINSOS_DB_POOL_TIMEOUT_SECONDS", get("DB_POOL_TIMEOUT_SECONDS"),
                                           cls.db_pool_timeout_seconds),
            db_outage_patience_seconds=_float("PERLINSOS_DB_OUTAGE_PATIENCE_SECONDS",
                                              get("DB_OUTAGE_PATIENCE_SECONDS"), cls.db_outage_patience_seconds),
            portal_url=get("PORTAL_URL") or cls.portal_url,
            dispatcher_in_process=_bool(get("DISPATCHER_IN_PROCESS"), True),
            default_pilot=get("DEFAULT_PILOT") or None,
            extra_plugins=split(get("EXTRA_PLUGINS")),
            disabled_plugins=split(get("DISABLED_PLUGINS")),
            max_page_size=_int("PERLINSOS_MAX_PAGE_SIZE", get("MAX_PAGE_SIZE"), cls.max_page_size),
            max_query_depth=_int("PERLINSOS_MAX_QUERY_DEPTH", get("MAX_QUERY_DEPTH"), cls.max_query_depth),
            max_aliases=_int("PERLINSOS_MAX_ALIASES", get("MAX_ALIASES"), cls.max_aliases),
            max_document_bytes=_int(
                "PERLINSOS_MAX_DOCUMENT_BYTES", get("MAX_DOCUMENT_BYTES"), cls.max_document_bytes
            ),
            max_query_cost=_int("PERLINSOS_MAX_QUERY_COST", get("MAX_QUERY_COST"), cls.max_query_cost),
            max_document_tokens=_int(
                "PERLINSOS_MAX_DOCUMENT_TOKENS", get("MAX_DOCUMENT_TOKENS"), cls.max_document_tokens
            ),
            max_request_bytes=_int("PERLINSOS_MAX_REQUEST_BYTES", get("MAX_REQUEST_BYTES"), cls.max_request_bytes),
            max_variables_depth=_int(
                "PERLINSOS_MAX_VARIABLES_DEPTH", get("MAX_VARIABLES_DEPTH"), cls.max_variables_depth
            ),
            max_subscriptions_per_connection=_int(
                "PERLINSOS_MAX_SUBSCRIPTIONS_PER_CONNECTION", get("MAX_SUBSCRIPTIONS_PER_CONNECTION"),
                cls.max_subscriptions_per_connection),
            max_subscriptions_per_user=_int(
                "PERLINSOS_MAX_SUBSCRIPTIONS_PER_USER", get("MAX_SUBSCRIPTIONS_PER_USER"), cls.max_subscriptions_per_user
            ),
            evidence_dir=get("EVIDENCE_DIR") or cls.evidence_dir,
            max_evidence_bytes=_int(
                "PERLINSOS_MAX_EVIDENCE_BYTES", get("MAX_EVIDENCE_BYTES"), cls.max_evidence_bytes
            ),
            max_evidence_files=_int(
                "PERLINSOS_MAX_EVIDENCE_FILES", get("MAX_EVIDENCE_FILES"), cls.max_evidence_files
            ),
            national_providers=split(get("NATIONAL_PROVIDERS")) or cls.national_providers,
            national_issuers=split(get("NATIONAL_ISSUERS")),
            regions_file=get("REGIONS_FILE") or None,
            metrics=_bool(get("METRICS"), False),
            metrics_token=get("METRICS_TOKEN") or None,
            log_format=_choice("PERLINSOS_LOG_FORMAT", get("LOG_FORMAT"), ("text", "json")),
            trusted_documents=_choice("PERLINSOS_TRUSTED_DOCUMENTS", get("TRUSTED_DOCUMENTS"),
                                      ("", "off", "allow", "require")) or None,
            trusted_documents_manifest=get("TRUSTED_DOCUMENTS_MANIFEST") or None,
            trusted_documents_roles=split(get("TRUSTED_DOCUMENTS_ROLES")) if get("TRUSTED_DOCUMENTS_ROLES") is not None
            else cls.trusted_documents_roles,
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL (``None`` for in-memory or other engines)."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[-1].split("?", 1)[0]
        return None if path in {"", ":memory:"} else Path(path)
