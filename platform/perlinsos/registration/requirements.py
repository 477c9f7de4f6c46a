"""What a pilot needs a citizen to consent to, scope by scope.

Registration reads the population record (``person``); selection reads every other scope the
pilot offers — the platform's fact scopes and every scope its plugins declare (a land registry's
``facts:land``) — and the selection engine marks a consent lacking one of them
(``platform.consent_missing_scopes``: the decision stays PENDING). So registration refuses such a
consent up front (``CONSENT_INSUFFICIENT``, naming the scopes) instead of accepting a registration
that can never be decided; the ``consentScopes`` query shows the same set as ``requiredForSelection``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from perlinsos import scopes as catalogue
from perlinsos.contract import ConsentScope
from perlinsos.errors import Problem
from perlinsos.problems import MESSAGES

REGISTRATION = "REGISTRATION"
SELECTION = "SELECTION"


def needed_for(code: str) -> tuple[str, ...]:
    """The steps that read under ``code``."""
    return (REGISTRATION,) if code == catalogue.PERSON else (SELECTION,)


def selection_scopes(offered: Mapping[str, ConsentScope]) -> tuple[str, ...]:
    """The scopes selection reads under in a pilot offering ``offered`` (never ``person``)."""
    return tuple(code for code in offered if code != catalogue.PERSON)


def missing_for_selection(offered: Mapping[str, ConsentScope], given: Iterable[str]) -> list[str]:
    """The scopes selection needs that ``given`` lacks, in the pilot's order."""
    given = set(given)
    return [code for code in selection_scopes(offered) if code not in given]


def insufficient(lacking: Iterable[str], offered: Mapping[str, ConsentScope]) -> Problem:
    """``CONSENT_INSUFFICIENT``, naming each lacking scope as the citizen was told of it (and its
    code, which ``giveConsent`` takes); the field is ``giveConsent``'s ``scopes``."""
    lacking = list(lacking)
    texts = {lang: "; ".join(f"{catalogue.text_of(code, lang, offered)} [{code}]" for code in lacking)
             for lang in ("id", "en")}
    id_text, en_text = MESSAGES["CONSENT_INSUFFICIENT"]
    return Problem("CONSENT_INSUFFICIENT", {"id": f"{id_text} ({texts['id']})", "en": f"{en_text} ({texts['en']})"},
                   field="scopes")
