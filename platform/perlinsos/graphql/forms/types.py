"""Types describing forms: grounds, reasons and evidence kinds are extensible sets (plugins add to
them), so they stay strings, each with a typed description object."""

from __future__ import annotations

from enum import Enum

import strawberry

from perlinsos.appeals import forms
from perlinsos.pilots import programmes


@strawberry.enum(description="The type of a comparison field: what input to render and what `fileAppeal` accepts.")
class ComparisonFieldType(Enum):
    STRING = "str"  # 1 to 200 characters
    INTEGER = "int"  # a whole number, 0 or more
    DATE = "date"  # ISO 8601, e.g. 2025-06-30


@strawberry.type(description="A kind of evidence file `POST /evidence` accepts (its `X-Evidence-Kind` header).")
class EvidenceKind:
    code: str = strawberry.field(description="e.g. KTP, SUPPORTING_DOCUMENT; pilots' grounds may add more.")
    label: str = strawberry.field(description="In the request's language.")
    content_types: list[str] = strawberry.field(description="Accepted types, decided from the file's content.")
    max_bytes: int = strawberry.field(description="The largest file accepted, in bytes.")

    @classmethod
    def of(cls, kind: forms.EvidenceKind, lang: str) -> EvidenceKind:
        return cls(code=kind.code, label=kind.label.get(lang) or kind.label["id"],
                   content_types=list(kind.content_types), max_bytes=kind.max_bytes)


@strawberry.type(description="A comparison field (data pembanding) of an appeal ground: a key of "
                             "`FileAppealInput.comparisonData`.")
class ComparisonField:
    name: str
    label: str = strawberry.field(description="In the request's language.")
    type: ComparisonFieldType
    required_for: list[str] = strawberry.field(
        description="Disputed reasons that require this field; optional for the others.")


@strawberry.type(description="A ground on which a decision may be appealed (sanggah) in this pilot.")
class AppealGround:
    code: str = strawberry.field(description="`FileAppealInput.ground`, e.g. DATA_INCORRECT.")
    title: str = strawberry.field(description="In the request's language.")
    disputable_reasons: list[str] = strawberry.field(description="Reason codes this ground may dispute.")
    required_evidence: list[EvidenceKind] = strawberry.field(
        description="One file of each kind must be attached (`FileAppealInput.evidence`).")
    comparison_fields: list[ComparisonField]
    applies_to: list[str] | None = strawberry.field(
        description="With `appealGrounds(decision:)`: the reasons of that decision (failing or unknown) this ground "
                    "may dispute; empty when it fits none. Null without a decision.")

    @classmethod
    def of(cls, ground: forms.GroundForm, lang: str) -> AppealGround:
        return cls(
            code=ground.code, title=ground.title.get(lang) or ground.title["id"],
            disputable_reasons=list(ground.disputable_reasons),
            required_evidence=[EvidenceKind.of(k, lang) for k in ground.required_evidence],
            comparison_fields=[ComparisonField(name=f.name, label=f.label.get(lang) or f.label["id"],
                                               type=ComparisonFieldType(f.type), required_for=list(f.required_for))
                               for f in ground.fields if f.type in forms.FIELD_TYPES],
            applies_to=None if ground.applies_to is None else list(ground.applies_to))


@strawberry.type(description="A programme of the pilot (`RegisterHouseholdInput.programme`).")
class Programme:
    code: str
    name: str = strawberry.field(description="In the request's language.")
    registration_open: bool = strawberry.field(description="Registration is open now.")

    @classmethod
    def of(cls, found: programmes.Programme, lang: str) -> Programme:
        return cls(code=found.code, name=found.name.get(lang) or found.name["id"],
                   registration_open=found.registration_open)


@strawberry.enum(description="The type of a corrected fact's value.")
class CorrectedFactType(Enum):
    INTEGER = "int"  # a whole number, 0 or more
    STRING_LIST = "list"  # a list of strings; [] when there is nothing


@strawberry.type(description="A fact a reviewer may correct when upholding an appeal: a key of "
                             "`ResolveAppealInput.correctedFacts`.")
class CorrectedFactField:
    name: str
    label: str = strawberry.field(description="In the request's language.")
    type: CorrectedFactType

    @classmethod
    def of(cls, fact: forms.CorrectedFact, lang: str) -> CorrectedFactField:
        return cls(name=fact.name, label=fact.label.get(lang) or fact.label["id"], type=CorrectedFactType(fact.type))
