"""Errors that may reach a client, and the masking of every other error."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from perlinsos import requestids
from perlinsos.graphql.language_errors import VALIDATED, Text, localize, speak
from perlinsos.problems import MESSAGES
from perlinsos.graphql.unavailable import SOURCE_UNAVAILABLE, classify, typed_error

log = logging.getLogger("perlinsos.graphql")

MASKED_MESSAGE = "Terjadi kesalahan tak terduga. / An unexpected error occurred."


class PublicError(GraphQLError):
    """An error whose message is safe to show (no data, no internals), with a machine code."""

    def __init__(self, message: str, code: str):
        super().__init__(message, extensions={"code": code})


class BadInput(PublicError):
    def __init__(self, message: str):
        super().__init__(message, "BAD_USER_INPUT")


class Forbidden(PublicError):
    def __init__(self, message: str | None = None):
        super().__init__(message or Text(*MESSAGES["FORBIDDEN"]), "FORBIDDEN")


class Unauthenticated(PublicError):
    # the catalogue's text: "not signed in" reads the same in a payload, a top-level error and /evidence
    def __init__(self, message: str | None = None):
        super().__init__(message or Text(*MESSAGES["UNAUTHENTICATED"]), "UNAUTHENTICATED")


def should_mask(error: GraphQLError) -> bool:
    """Mask everything except parse/validation errors and :class:`PublicError` (and log it)."""
    original = error.original_error
    if original is None or isinstance(original, PublicError):
        return False
    if error.path is None and isinstance(original, GraphQLError | ValueError):
        # Not from a resolver: coercing the request's variables or literals (graphql-core's and
        # the scalars' own "Int cannot represent ..." messages), which tell the client its mistake.
        return False
    outage = classify(original)
    if outage is not None:  # typed, not a bug: no traceback (the view logs database outages per episode)
        if outage == SOURCE_UNAVAILABLE:
            log.warning("%s in %s (request %s): %s", outage, error.path, requestids.current(), original)
        return True
    log.error("unexpected error in %s (request %s)", error.path, requestids.current(), exc_info=original)
    return True


def masked_extensions() -> dict[str, str]:
    """What a masked error tells the client: that it is ours, and the request id to quote."""
    rid = requestids.current()
    return {"code": "INTERNAL_SERVER_ERROR", **({"requestId": rid} if rid else {})}


def masked_body(language: str | None = None) -> dict:
    """The whole answer when a request fails outside any field (its error was logged by the caller)."""
    return {"data": None, "errors": [{"message": localize(MASKED_MESSAGE, language),
                                      "extensions": masked_extensions()}]}


class MaskWithRequestId(MaskErrors):
    """strawberry's MaskErrors, whose masked error also carries its code and the request id."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        outage = classify(error.original_error)
        if outage is not None:
            return typed_error(error, outage)
        masked = super().anonymise_error(error)
        masked.extensions = masked_extensions()
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        # masked or not, each error leaves with its code and in the request's language (one place)
        language = getattr(self.execution_context.context, "language", None)
        validated = getattr(self.execution_context, VALIDATED, False)
        return [speak(e, language, validated) for e in super()._process_errors(errors)]
