"""Trusted documents (persisted operations): the operations a client may run by their hash.

The manifest is what graphql-codegen's client preset writes with ``persistedDocuments`` (see
``clients/typescript/codegen.ts``): ``{"sha256:<hex>": "<document>"}``, the hash being sha256 of
the document text. A client sends ``{"documentId": "sha256:<hex>", "variables": ...}`` (or the
bare hex; Apollo's ``extensions.persistedQuery.sha256Hash`` too) over HTTP POST or GET and in a
websocket ``subscribe``. ``PERLINSOS_TRUSTED_DOCUMENTS``:

- ``off``: no manifest; a document id is refused (``PERSISTED_QUERY_NOT_SUPPORTED``);
- ``allow`` (development's default): manifest ids and any document;
- ``require`` (production's default): manifest documents only — by id, or sent whole with the
  exact text — except for a viewer holding one of ``PERLINSOS_TRUSTED_DOCUMENTS_ROLES`` (staff
  tools); anything else is ``TRUSTED_DOCUMENT_REQUIRED``.

A manifest document is parsed once and validated once per process (pinned, not in the LRU caches
any client can churn), so a request by id skips reading, parsing and validating a document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, parse, validate
from strawberry.extensions import ParserCache, ValidationCache

from perlinsos.errors import ConfigurationError
from perlinsos.graphql.gate import Refusal
from perlinsos.graphql.language_errors import VALIDATED, Text
from perlinsos.settings import Settings

MODES = ("off", "allow", "require")
#: the manifest the TypeScript client generates, checked in beside the SDL (scripts/typescript-client)
REPOSITORY_MANIFEST = Path(__file__).resolve().parents[3] / "schema" / "persisted-documents.json"
_HEX = re.compile(r"[0-9a-f]{64}")

NOT_SUPPORTED = Refusal(400, "PERSISTED_QUERY_NOT_SUPPORTED", Text(
    "Server ini tidak menerima documentId; kirim dokumen GraphQL utuh (query).",
    "This server does not accept a documentId: send the whole GraphQL document (query)."))


def not_found() -> Refusal:
    return Refusal(400, "PERSISTED_QUERY_NOT_FOUND", Text(
        "documentId tidak dikenal: dokumen ini tidak ada dalam daftar dokumen tepercaya server.",
        "Unknown documentId: the document is not in the server's trusted-documents manifest."))


def required() -> Refusal:
    return Refusal(400, "TRUSTED_DOCUMENT_REQUIRED", Text(
        "Server ini hanya menjalankan operasi terdaftar: kirim documentId dari manifest klien.",
        "This server runs registered operations only: send the documentId from the client's manifest."))


def mode_of(settings: Settings) -> str:
    return settings.trusted_documents or ("require" if settings.production else "allow")


@dataclass
class Manifest:
    """The trusted documents of one schema, by bare sha256 hex, and their pinned parse/validation."""

    mode: str
    roles: frozenset[str]
    documents: dict[str, str] = field(default_factory=dict)
    _texts: set[str] = field(default_factory=set)
    _parsed: dict[str, DocumentNode] = field(default_factory=dict)
    _validated: dict[int, list[GraphQLError]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._texts = set(self.documents.values())

    # --- the request --------------------------------------------------------------------------

    def resolve(self, document_id: Any) -> str:
        """The document of ``document_id`` (``sha256:<hex>`` or ``<hex>``); raises :class:`Refusal`."""
        if self.mode == "off":
            raise NOT_SUPPORTED
        if not isinstance(document_id, str):
            raise not_found()
        key = document_id.removeprefix("sha256:").lower()
        document = self.documents.get(key) if _HEX.fullmatch(key) else None
        if document is None:
            raise not_found()
        return document

    def admit(self, query: str | None, principal: Any) -> None:
        """Raise ``TRUSTED_DOCUMENT_REQUIRED`` for a document ``require`` does not let this viewer run."""
        if self.mode != "require" or query is None or query in self._texts:
            return
        held = {getattr(r, "value", r) for r in principal.roles()} if principal is not None else set()
        if not held & self.roles:
            raise required()

    # --- pinned parse and validation -----------------------------------------------------------

    def parsed(self, query: str | None, **options: Any) -> DocumentNode | None:
        if query is None or query not in self._texts:
            return None
        document = self._parsed.get(query)
        if document is None:
            document = self._parsed[query] = parse(query, **options)
        return document

    def validated(self, schema, document: DocumentNode, rules) -> list[GraphQLError] | None:
        """Validation errors of a pinned document (computed once); ``None`` for any other document."""
        if self._parsed.get(_text_of(document)) is not document:
            return None
        key = id(document)
        if key not in self._validated:
            self._validated[key] = validate(schema, document, rules)
        return self._validated[key]


def _text_of(document: DocumentNode) -> str | None:
    return document.loc.source.body if document.loc is not None else None


def document_id(data: dict[str, Any]) -> Any:
    """The id a request names: ``documentId``, or Apollo's ``extensions.persistedQuery.sha256Hash``."""
    if "documentId" in data:
        return data["documentId"]
    extensions = data.get("extensions")
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    return persisted.get("sha256Hash") if isinstance(persisted, dict) else None


def load(settings: Settings) -> Manifest:
    """The deployment's manifest. ``require`` with no readable manifest stops start-up."""
    mode = mode_of(settings)
    if mode not in MODES:
        raise ConfigurationError(f"PERLINSOS_TRUSTED_DOCUMENTS must be one of {', '.join(MODES)}, got {mode!r}")
    roles = frozenset(r.upper() for r in settings.trusted_documents_roles)
    if mode == "off":
        return Manifest(mode, roles)
    path = Path(settings.trusted_documents_manifest) if settings.trusted_documents_manifest else REPOSITORY_MANIFEST
    if not path.is_file():
        if mode == "require" or settings.trusted_documents_manifest:
            raise ConfigurationError(f"trusted-documents manifest {path} not found (PERLINSOS_TRUSTED_DOCUMENTS_MANIFEST)")
        return Manifest(mode, roles)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"trusted-documents manifest {path}: {exc}") from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ConfigurationError(f"trusted-documents manifest {path}: expected an object of hash → document")
    documents = {}
    for key, document in raw.items():
        bare = key.removeprefix("sha256:").lower()
        if not _HEX.fullmatch(bare):
            raise ConfigurationError(f"trusted-documents manifest {path}: {key!r} is not a sha256 hash")
        documents[bare] = document
    return Manifest(mode, roles, documents)


def parser_cache(manifest: Manifest, maxsize: int):
    """strawberry's ParserCache, with the manifest's documents pinned (parsed once per process)."""

    class TrustedParserCache(ParserCache):
        def __init__(self) -> None:
            super().__init__(maxsize=maxsize)

        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            document = manifest.parsed(context.query, **context.parse_options)
            if document is None:
                try:
                    context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
                except GraphQLError:
                    # left to strawberry's own parse, which fails inside the operation: the error
                    # then passes the masking and formatting step (a code, the request's language)
                    context.graphql_document = None
            else:
                context.graphql_document = document
            yield

    return TrustedParserCache


def validation_cache(manifest: Manifest, maxsize: int):
    """strawberry's ValidationCache, with the manifest's documents validated once per process."""

    class TrustedValidationCache(ValidationCache):
        def __init__(self) -> None:
            super().__init__(maxsize=maxsize)

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            errors = manifest.validated(context.schema._schema, context.graphql_document, context.validation_rules)
            if errors is None:
                errors = self.cached_validate_document(context.schema._schema, context.graphql_document,
                                                       context.validation_rules)
            context.pre_execution_errors = list(errors)
            # an error without a code after a valid document is the request's input (its variables)
            setattr(context, VALIDATED, not errors)
            yield

    return TrustedValidationCache
