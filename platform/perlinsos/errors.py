"""Errors the platform and plugins raise, each with a message a person understands.

``Problem`` subclasses carry a machine ``code`` and messages in Bahasa Indonesia (default) and
English; GraphQL mutations turn them into typed errors (errors as data).
"""

from __future__ import annotations

from collections.abc import Mapping


class PerlinsosError(Exception):
    """Base of every error the platform raises on purpose."""


class ConfigurationError(PerlinsosError):
    """A deployment, pilot or plugin is misconfigured; raised at start-up or load time."""


class PluginError(ConfigurationError):
    """A plugin does not fit the contract. The message names the plugin."""

    def __init__(self, plugin: str, message: str):
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


class DatabaseError(ConfigurationError):
    """The database URL is malformed or the database cannot be reached."""


class AuthenticationFailed(PerlinsosError):
    """A token was recognised but is not valid. Never says which check failed."""


class SourceUnavailable(PerlinsosError):
    """A data source or identity provider did not answer (down, slow or garbage)."""

    def __init__(self, source: str, detail: str = ""):
        super().__init__(f"{source} unavailable" + (f": {detail}" if detail else ""))
        self.source = source
        self.detail = detail


class Problem(PerlinsosError):
    """Something a user got wrong; shown to them as a typed error in their language."""

    def __init__(self, code: str, messages: Mapping[str, str], field: str | None = None):
        super().__init__(messages.get("en") or next(iter(messages.values())))
        self.code = code
        self.messages = dict(messages)
        self.field = field

    def message(self, lang: str = "id") -> str:
        return self.messages.get(lang) or self.messages.get("id") or str(self)


class ConsentInvalid(PerlinsosError):
    """The identity provider no longer honours a consent grant (revoked or expired there)."""


class Undeliverable(PerlinsosError):
    """A channel cannot reach a person at all (no valid phone number, ...): not worth retrying."""
