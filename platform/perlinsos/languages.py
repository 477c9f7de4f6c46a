"""Which language a person is answered in: Bahasa Indonesia unless they prefer one we have."""

from __future__ import annotations


def pick_language(accept_language: str | None, supported: tuple[str, ...] = ("id", "en")) -> str:
    """Bahasa Indonesia unless the client prefers a language we have (``Accept-Language``)."""
    if not accept_language:
        return "id"
    weighted = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        weighted.append((weight, tag.split("-")[0].lower()))
    for _, lang in sorted(weighted, key=lambda w: -w[0]):
        if lang in supported:
            return lang
    return "id"
