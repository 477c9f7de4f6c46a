"""A failed reason in plain words for the facilitator who explains it. The citizen's own texts name
the recorded values; for income and bank flags the worklist says what failed without the values
(a facilitator explains the reason; the figures stay with the citizen and the reviewers)."""

from __future__ import annotations

from typing import Any

from perlinsos.messages import reason_message

WITHOUT_VALUES = {
    "INCOME_ABOVE_LIMIT": {"id": "Penghasilan bulanan tercatat di atas batas program",
                           "en": "The recorded monthly income is above the programme's limit"},
    "UNUSUAL_TRANSACTIONS": {"id": "Rekening anggota keluarga ditandai oleh bank",
                             "en": "A household member's bank account is flagged"},
}


def reason_text(row: Any, language: str) -> str:
    if row.code in WITHOUT_VALUES:
        texts = WITHOUT_VALUES[row.code]
        return texts.get(language) or texts["id"]
    given = (row.messages or {}).get(language)
    if given:
        return given
    verdict = getattr(row.verdict, "value", row.verdict)
    return reason_message(row.code, verdict, (row.observed or {}).get("value"), (row.limit or {}).get("value"),
                          row.source, row.as_of, language)
