"""Consent scopes: the data a citizen may allow the platform to read, and what they are told.

The platform's own scopes are built in; plugins declare more through the ``consent_scopes`` hook
(e.g. ``facts:land`` for a land registry). A pilot offers the union of its enabled plugins'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from perlinsos.contract import ConsentScope

PURPOSE = "bansos-selection"
_CODE = re.compile(r"[a-z][a-z0-9_-]{0,29}(:[a-z][a-z0-9_-]{0,29})?")


def _scope(code: str, id_text: str, en_text: str) -> ConsentScope:
    return ConsentScope(code=code, purpose=PURPOSE, text={"id": id_text, "en": en_text})


BUILTIN: dict[str, ConsentScope] = {s.code: s for s in (
    _scope("person", "Data kependudukan Anda dan keluarga (Dukcapil/IKD)",
           "Your and your household's population record (Dukcapil/IKD)"),
    _scope("facts:income", "Penghasilan bulanan tercatat (BPJS Ketenagakerjaan)",
           "Recorded monthly income (BPJS Ketenagakerjaan)"),
    _scope("facts:bank", "Penanda transaksi rekening bank (PPATK, bank negara)",
           "Flags on bank accounts (PPATK, state banks)"),
    _scope("facts:electricity", "Daya listrik rumah (PLN)", "Household electricity capacity (PLN)"),
    _scope("facts:welfare", "Desil kesejahteraan keluarga (DTSEN)", "The family's welfare decile (DTSEN)"),
    _scope("facts:employment", "Pekerjaan anggota keluarga (ASN, TNI, Polri, BUMN/BUMD)",
           "Household members' employment (civil service, TNI, Polri, state companies)"),
    _scope("facts:vehicles", "Kepemilikan kendaraan (Polri)", "Vehicle ownership (Polri)"),
)}
PERSON = "person"


def merge(results: Iterable[tuple[str, object]]) -> tuple[dict[str, ConsentScope], list[tuple[str, str]]]:
    """The built-in scopes plus what plugins declared, and the problems found (``(where, message)``):
    a malformed declaration, a code clashing with a built-in one or declared by two plugins."""
    found: dict[str, ConsentScope] = dict(BUILTIN)
    owner: dict[str, str] = {code: "the platform" for code in BUILTIN}
    problems: list[tuple[str, str]] = []
    for plugin, result in results:
        where = f"plugins.{plugin}"
        if isinstance(result, Exception):
            problems.append((where, f"consent_scopes failed: {result}"))
            continue
        for scope in result or ():
            if not isinstance(scope, ConsentScope):
                problems.append((where, "consent_scopes must return ConsentScope objects"))
            elif not isinstance(scope.code, str) or not _CODE.fullmatch(scope.code):
                problems.append((where, f"consent scope {scope.code!r} is not a code like facts:land"))
            elif not _texts_ok(scope.text):
                problems.append((where, f"consent scope {scope.code}: a citizen-facing text in id and en is required"))
            elif scope.code in owner:
                problems.append((where, f"consent scope {scope.code} clashes with one declared by {owner[scope.code]}"))
            else:
                found[scope.code], owner[scope.code] = scope, plugin
    return found, problems


def _texts_ok(text: object) -> bool:
    return isinstance(text, Mapping) and all(isinstance(text.get(lang), str) and text[lang].strip()
                                             for lang in ("id", "en"))


def text_of(code: str, lang: str, known: Mapping[str, ConsentScope] | None = None) -> str:
    scope = (known or {}).get(code) or BUILTIN.get(code)
    if scope is None:
        return code
    return scope.text.get(lang) or scope.text.get("id") or code
