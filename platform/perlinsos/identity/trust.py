"""A pilot's trust: the identity providers it accepts, what each may do there, which are national.

Built from the ``identity_providers`` hook of the plugins the pilot enables (their settings name
the issuers) and the deployment's national designation (``PERLINSOS_NATIONAL_PROVIDERS`` /
``PERLINSOS_NATIONAL_ISSUERS``). Everything that asks "may this provider do this here?" asks it:
authentication, staff roles, consent, the person record and facts. Nothing a regional provider
signs reaches another pilot or a national role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from perlinsos.contract import CONSENT, FACTS, PERSON, SIGN_IN, IdentityProvider

#: Capabilities only one plugin of a pilot may hold for an issuer: two plugins verifying one
#: issuer's tokens (or granting its consents) could disagree about who someone is.
EXCLUSIVE = (SIGN_IN, CONSENT, PERSON)


@dataclass(frozen=True)
class Declared:
    """One provider as one plugin declared it for the pilot."""

    plugin: str
    provider: IdentityProvider
    national: bool


@dataclass(frozen=True)
class PilotTrust:
    pilot: str
    declared: tuple[Declared, ...]

    def sign_in(self, plugin: str, issuer: str | None) -> Declared | None:
        """The sign-in provider ``plugin`` declared for ``issuer`` (``None``: not trusted here)."""
        return next((d for d in self.declared if d.plugin == plugin and d.provider.issuer == issuer
                     and d.provider.can(SIGN_IN)), None)

    def is_national(self, issuer: str | None) -> bool:
        return issuer is not None and any(d.national and d.provider.issuer == issuer for d in self.declared)

    def plugins_for(self, capability: str, issuer: str | None) -> frozenset[str]:
        """Plugins that may act with ``capability`` for what ``issuer`` issued."""
        return frozenset(d.plugin for d in self.declared if d.provider.issuer == issuer and d.provider.can(capability))

    def bound_plugins(self, capability: str) -> frozenset[str]:
        """Plugins tied to a provider for ``capability``: they only ever see that provider's grants."""
        return frozenset(d.plugin for d in self.declared if d.provider.can(capability))

    def issuers_of(self, plugin: str, capability: str) -> frozenset[str]:
        return frozenset(d.provider.issuer for d in self.declared if d.plugin == plugin and d.provider.can(capability))

    def providers(self, capability: str, *, national: bool | None = None) -> list[Declared]:
        return [d for d in self.declared if d.provider.can(capability) and (national is None or d.national == national)]

    def name_of(self, issuer: str | None) -> str | None:
        return next((d.provider.name for d in self.declared if d.provider.issuer == issuer), None)

    def sign_in_issuers(self) -> list[str]:
        return sorted({d.provider.issuer for d in self.providers(SIGN_IN)})

    def problems(self, national_issuers: Sequence[str] = ()) -> list[tuple[str, str]]:
        """What would make this pilot unsafe, as (where, message) pairs: refused when it is loaded."""
        found: list[tuple[str, str]] = []
        for capability in EXCLUSIVE:
            by_issuer: dict[str, list[str]] = {}
            for d in self.providers(capability):
                by_issuer.setdefault(d.provider.issuer, []).append(d.plugin)
            for issuer, plugins in sorted(by_issuer.items()):
                if len(set(plugins)) > 1:
                    found.append(("(identity)", f"issuer {issuer} is declared with {capability} by plugins "
                                                f"{', '.join(sorted(set(plugins)))}: one provider, one plugin"))
        if national_issuers:
            for d in self.declared:
                if d.national and d.provider.issuer not in national_issuers:
                    found.append((f"plugins.{d.plugin}", f"issuer {d.provider.issuer} is not a national identity "
                                                         "provider of this deployment (PERLINSOS_NATIONAL_ISSUERS)"))
        return found

    def missing(self, unbound: Callable[[str], bool] = lambda hook: False) -> list[str]:
        """What keeps this pilot from working: warned about when it is loaded and at start-up (a
        pilot may be rolled out in steps). ``unbound(hook)``: whether a plugin bound to no provider
        implements ``hook`` (it then serves provider-less grants, e.g. a region's own service)."""
        found: list[str] = []
        who = f"citizens of {self.pilot}"
        if not self.providers(SIGN_IN):
            found.append(f"{who} cannot sign in: no enabled plugin declares an identity provider "
                         "with sign_in (e.g. ikd or oidc)")
            return found
        if not self.providers(CONSENT, national=True) and not unbound("grant_consent"):
            found.append(f"{who} can sign in but nothing can grant consent: enable a national identity "
                         "provider with consent (e.g. ikd)")
        if not self.providers(PERSON, national=True) and not unbound("fetch_person"):
            found.append(f"{who} can sign in but nothing provides the person record: enable a national "
                         "identity provider with person (e.g. ikd)")
        return found


def build(pilot: str, results: Iterable[tuple[str, object]], national_providers: Iterable[str]) -> PilotTrust:
    """``results``: ``(plugin, what its identity_providers returned)``; malformed answers raise."""
    national = frozenset(national_providers)
    declared: list[Declared] = []
    for plugin, result in results:
        if isinstance(result, Exception):
            raise TrustError(plugin, f"identity_providers failed: {result!r}")
        for provider in result or ():
            if not isinstance(provider, IdentityProvider) or not provider.issuer:
                raise TrustError(plugin, "identity_providers must return IdentityProvider objects with an issuer")
            declared.append(Declared(plugin, provider, plugin in national))
    return PilotTrust(pilot, tuple(declared))


class TrustError(ValueError):
    """A plugin answered ``identity_providers`` with something the platform cannot use."""

    def __init__(self, plugin: str, message: str):
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


__all__ = ["CONSENT", "Declared", "EXCLUSIVE", "FACTS", "PERSON", "PilotTrust", "SIGN_IN", "TrustError", "build"]
