"""The one error shape clients read, and bilingual messages (shared by GraphQL and the REST routes).

A message is a :class:`Text` pair (or the older ``"Bahasa Indonesia. / English."`` convention) and
is put into the request's language where the answer is formatted. Free of GraphQL so every stage
(the evidence routes, plugin routes) can answer in the same shape;
``perlinsos.graphql.language_errors`` applies it to GraphQL errors.
"""

from __future__ import annotations

from typing import Any

from perlinsos import requestids

SEPARATOR = " / "
LANGUAGES = ("id", "en")


class Text(str):
    """A message in Bahasa Indonesia and English. As a plain ``str`` it reads ``"id / en"``, so
    logs and older callers keep both; :func:`localize` picks one."""

    id: str
    en: str

    def __new__(cls, id: str, en: str) -> Text:  # noqa: A002 - the language code
        text = super().__new__(cls, f"{id}{SEPARATOR}{en}")
        text.id, text.en = id, en
        return text

    def __reduce__(self):
        return (Text, (self.id, self.en))


def localize(message: Any, language: str | None) -> str:
    """``message`` in ``language`` (``"id"`` unless ``"en"``). A :class:`Text` is split by its parts;
    a plain string only when it holds exactly one ``" / "`` (the convention), else it stays whole."""
    if isinstance(message, Text):
        return message.en if language == "en" else message.id
    if not isinstance(message, str):
        return str(message)
    parts = message.split(SEPARATOR)
    if len(parts) != 2 or not all(p.strip() for p in parts):
        return message
    return parts[1].strip() if language == "en" else parts[0].strip()


def error_dict(code: str, message: Any, language: str | None, **extra: Any) -> dict[str, Any]:
    """One error as a client reads it: ``{"message", "extensions": {"code", ..., "requestId"}}``."""
    extensions: dict[str, Any] = {"code": code, **{k: v for k, v in extra.items() if v is not None}}
    rid = requestids.current()
    if rid:
        extensions["requestId"] = rid
    return {"message": localize(message, language), "extensions": extensions}


def body(code: str, message: Any, language: str | None, **extra: Any) -> dict[str, Any]:
    """The whole body of a refused HTTP request (``/graphql``'s refusals, ``/evidence``, 404/405)."""
    return {"errors": [error_dict(code, message, language, **extra)]}
