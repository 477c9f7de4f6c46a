"""Notification texts: one per event, in Bahasa Indonesia (default) and English, each with a
title, a full body (every reason) and a short form sized for SMS. A pilot may override any of
them in its file (``[templates.DECISION_ELIGIBLE.id] short = "..."``). These full texts are for the
portal inbox (behind sign-in) and channels that ask for them; other channels get the minimal
texts of :mod:`.minimal`."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PARTS = ("title", "body", "short")
LANGUAGES = ("id", "en")
#: placeholders a template may use (a pilot's override is checked against these)
PLACEHOLDERS = frozenset({"programme", "pilot", "nik", "reasons", "main_reason", "portal_url", "version",
                          "ground", "resolution"})

TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "DECISION_ELIGIBLE": {
        "id": {"title": "Anda memenuhi syarat {programme}",
               "body": "Hasil seleksi {programme} ({pilot}) untuk NIK {nik}: MEMENUHI SYARAT.\n{reasons}",
               "short": "Perlinsos: NIK {nik} MEMENUHI SYARAT {programme}. Rincian: {portal_url}"},
        "en": {"title": "You are eligible for {programme}",
               "body": "Selection result for {programme} ({pilot}), NIK {nik}: ELIGIBLE.\n{reasons}",
               "short": "Perlinsos: NIK {nik} is ELIGIBLE for {programme}. Details: {portal_url}"},
    },
    "DECISION_NOT_ELIGIBLE": {
        "id": {"title": "Anda belum memenuhi syarat {programme}",
               "body": "Hasil seleksi {programme} ({pilot}) untuk NIK {nik}: TIDAK MEMENUHI SYARAT.\n"
                       "Alasan:\n{reasons}\nJika data ini keliru, Anda dapat mengajukan sanggah.",
               "short": "Perlinsos: NIK {nik} TIDAK MEMENUHI SYARAT {programme}: {main_reason}. "
                        "Alasan lengkap & sanggah: {portal_url}"},
        "en": {"title": "You are not eligible for {programme}",
               "body": "Selection result for {programme} ({pilot}), NIK {nik}: NOT ELIGIBLE.\nReasons:\n{reasons}\n"
                       "If this data is wrong, you can file an appeal.",
               "short": "Perlinsos: NIK {nik} NOT ELIGIBLE for {programme}: {main_reason}. "
                        "All reasons & appeal: {portal_url}"},
    },
    "DECISION_PENDING": {
        "id": {"title": "Keputusan {programme} ditunda",
               "body": "Seleksi {programme} ({pilot}) untuk NIK {nik} belum dapat diputuskan:\n{reasons}\n"
                       "Kami akan memeriksa ulang dan memberi kabar.",
               "short": "Perlinsos: keputusan {programme} untuk NIK {nik} DITUNDA: {main_reason}. Info: {portal_url}"},
        "en": {"title": "Your {programme} decision is pending",
               "body": "Selection for {programme} ({pilot}), NIK {nik}, cannot be decided yet:\n{reasons}\n"
                       "We will check again and let you know.",
               "short": "Perlinsos: {programme} decision for NIK {nik} is PENDING: {main_reason}. Info: {portal_url}"},
    },
    "APPEAL_RECEIVED": {
        "id": {"title": "Sanggah Anda diterima",
               "body": "Sanggah ({ground}) atas keputusan {programme} untuk NIK {nik} telah diterima dan akan "
                       "diperiksa.",
               "short": "Perlinsos: sanggah NIK {nik} ({programme}) diterima dan akan diperiksa. {portal_url}"},
        "en": {"title": "Your appeal was received",
               "body": "Your appeal ({ground}) against the {programme} decision for NIK {nik} was received and "
                       "will be reviewed.",
               "short": "Perlinsos: appeal for NIK {nik} ({programme}) received; it will be reviewed. {portal_url}"},
    },
    "APPEAL_UPHELD": {
        "id": {"title": "Sanggah Anda dikabulkan",
               "body": "Sanggah atas keputusan {programme} untuk NIK {nik} dikabulkan: {resolution}\n"
                       "Seleksi diulang dengan data yang sudah diperbaiki.",
               "short": "Perlinsos: sanggah NIK {nik} ({programme}) DIKABULKAN. Hasil baru: {portal_url}"},
        "en": {"title": "Your appeal was upheld",
               "body": "Your appeal against the {programme} decision for NIK {nik} was upheld: {resolution}\n"
                       "Selection was run again with the corrected data.",
               "short": "Perlinsos: appeal for NIK {nik} ({programme}) UPHELD. New result: {portal_url}"},
    },
    "APPEAL_DISMISSED": {
        "id": {"title": "Sanggah Anda ditolak",
               "body": "Sanggah atas keputusan {programme} untuk NIK {nik} ditolak: {resolution}",
               "short": "Perlinsos: sanggah NIK {nik} ({programme}) DITOLAK. Penjelasan: {portal_url}"},
        "en": {"title": "Your appeal was dismissed",
               "body": "Your appeal against the {programme} decision for NIK {nik} was dismissed: {resolution}",
               "short": "Perlinsos: appeal for NIK {nik} ({programme}) DISMISSED. Explanation: {portal_url}"},
    },
}


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    short: str


def problems(overrides: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Why a pilot's template overrides are invalid: (field path, message) pairs."""
    found = []
    for template, languages in overrides.items():
        if template not in TEMPLATES:
            found.append((f"templates.{template}", f"unknown template (known: {', '.join(TEMPLATES)})"))
            continue
        if not isinstance(languages, Mapping):
            found.append((f"templates.{template}", "must be a table of languages"))
            continue
        for lang, parts in languages.items():
            path = f"templates.{template}.{lang}"
            if lang not in LANGUAGES or not isinstance(parts, Mapping):
                found.append((path, f"unknown language (known: {', '.join(LANGUAGES)})"))
                continue
            for part, text in parts.items():
                if part not in PARTS or not isinstance(text, str):
                    found.append((f"{path}.{part}", "unknown part or not text (parts: title, body, short)"))
                    continue
                names = {f for _, f, _, _ in string.Formatter().parse(text) if f}
                unknown = sorted(names - PLACEHOLDERS)
                if unknown:
                    found.append((f"{path}.{part}", f"unknown placeholder {{{unknown[0]}}}"))
    return found


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, language: str, values: Mapping[str, Any],
           overrides: Mapping[str, Any] | None = None, *, minimal: bool = False) -> Rendered:
    """The texts of ``template``; ``minimal``: the outcome and the reasons' kinds only (for channels
    leaving the platform; :mod:`.minimal`). The caller gives minimal ``values`` then too, so a
    pilot's override, which applies either way, has nothing more to show."""
    from perlinsos.notification import minimal as short_texts

    language = language if language in LANGUAGES else "id"
    texts = dict((short_texts.TEMPLATES if minimal else TEMPLATES)[template][language])
    texts.update(((overrides or {}).get(template) or {}).get(language) or {})
    values = _Blank(values)
    return Rendered(*(texts[part].format_map(values).strip() for part in PARTS))
