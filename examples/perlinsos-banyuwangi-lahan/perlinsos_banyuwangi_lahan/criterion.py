"""LAND_ABOVE_LIMIT: the household's registered land against the pilot's limit, with its texts."""

from __future__ import annotations

from dataclasses import dataclass

from perlinsos.contract import CriterionResult, Verdict
from perlinsos.messages import format_date, format_number

from perlinsos_banyuwangi_lahan.registry import FACT, SOURCE

TEXTS = {
    "FAIL": {"id": "Luas tanah keluarga tercatat {observed} m², di atas batas {limit} m²",
             "en": "Household land recorded at {observed} m², above the limit of {limit} m²"},
    "PASS": {"id": "Luas tanah keluarga tercatat {observed} m², tidak melebihi batas {limit} m²",
             "en": "Household land recorded at {observed} m², within the limit of {limit} m²"},
    "UNKNOWN": {"id": "Data luas tanah ({source}) belum tersedia; keputusan ditunda dan akan diperiksa ulang",
                "en": "Land data ({source}) is not available yet; the decision is pending and will be checked again"},
}
SUFFIX = {"id": " (sumber: {}{})", "en": " (source: {}{})"}
WHEN = {"id": ", per {}", "en": ", as of {}"}


@dataclass(frozen=True)
class LandAboveLimit:
    limit_m2: int = 5000
    code: str = "LAND_ABOVE_LIMIT"
    version: str = "1"

    def evaluate(self, facts, registrant) -> CriterionResult:
        fact = facts.get(FACT)
        if fact is None or fact.value is None:
            return CriterionResult(self.code, Verdict.UNKNOWN, limit=self.limit_m2, source=SOURCE,
                                   detail=fact.error if fact else "NO_DATA")
        verdict = Verdict.FAIL if fact.value > self.limit_m2 else Verdict.PASS
        return CriterionResult(self.code, verdict, fact.value, self.limit_m2, fact.source, fact.as_of)

    def messages(self, result: CriterionResult) -> dict[str, str]:
        texts = {}
        for lang in ("id", "en"):
            text = TEXTS[result.verdict.value][lang].format(
                observed=_num(result.observed, lang), limit=_num(result.limit, lang), source=result.source or SOURCE)
            if result.verdict != Verdict.UNKNOWN and result.source:
                when = WHEN[lang].format(format_date(result.as_of, lang)) if result.as_of else ""
                text += SUFFIX[lang].format(result.source, when)
            texts[lang] = text
        return texts


def _num(value, lang: str) -> str:
    return "-" if value is None else format_number(value, lang)
