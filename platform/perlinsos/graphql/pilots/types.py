"""GraphQL types and queries for pilots: public facts about a rollout; plugin settings only for the
national office (they may hold gateway credentials, shown masked even then)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, get_args

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos import contract, policy, regions
from perlinsos.db.types import utcnow
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import Forbidden, Unauthenticated
from perlinsos.pilots import store
from perlinsos.graphql.relay import to_global_id


# Closed sets of the core, built from their one definition; named as their values, which clients
# received as strings before (lower case) and still do.
Level = enum.Enum("RegionLevel", {v: v for v in get_args(regions.Level)}, type=str)
RegionLevel = strawberry.enum(Level, name="RegionLevel", description="province, regency, district or village.")
Capability = enum.Enum("ProviderCapability", {v: v for v in contract.CAPABILITIES}, type=str)
ProviderCapability = strawberry.enum(Capability, name="ProviderCapability",
                                     description="What an identity provider does for a pilot.")


@strawberry.type(description="A kode wilayah (Kemendagri region code) and its name.")
class Region:
    code: str
    name: str | None
    level: RegionLevel | None = strawberry.field(description="Null for a code missing from the region list.")


def region(code: str) -> Region:
    found = regions.get(code)
    return Region(code=code, name=found.name if found else None, level=Level(found.level) if found else None)


@strawberry.type(description="One plugin of a pilot and its settings (secret settings masked).")
class PluginSettings:
    name: str
    settings: JSON


@strawberry.type(description="An identity provider a pilot trusts, and what it does there.")
class IdentityProvider:
    issuer: str = strawberry.field(description="OpenID issuer, exactly as its tokens carry it in `iss`.")
    name: str
    capabilities: list[ProviderCapability]
    national: bool = strawberry.field(description="A national provider (IKD): its NIKs need no confirmation.")


@strawberry.type(description="A rollout of programmes in a set of regions.")
class Pilot:
    id: strawberry.ID
    code: str
    name: str
    regions: list[Region]
    programmes: list[str]
    languages: list[str]
    registration_opens_at: datetime
    registration_closes_at: datetime
    appeal_opens_at: datetime | None
    appeal_closes_at: datetime | None
    enabled_plugins: list[str]
    training: bool = strawberry.field(description="A training pilot (LATIHAN): simulators only, left out of "
                                                  "statistics, resettable for the next class.")
    plugin_data: strawberry.Private[dict]
    row: strawberry.Private[Any]

    @strawberry.field(description="The identity providers this pilot trusts (a sign-in screen offers those with "
                                  "sign_in; a regional sign-in consents through a national one).")
    def identity_providers(self, info: Info) -> list[IdentityProvider]:
        trust = _hooks(info, self.row).trust_now()
        return [IdentityProvider(issuer=d.provider.issuer, name=d.provider.name,
                                 capabilities=[Capability(c) for c in sorted(d.provider.capabilities)],
                                 national=d.national)
                for d in trust.declared]

    @strawberry.field(description="What keeps this pilot from working yet, e.g. nothing can grant consent "
                                  "(national office only).")
    def setup_warnings(self, info: Info) -> list[str]:
        from perlinsos.pilots.files import pilot_warnings

        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        if not policy.can_roll_out_pilots(c.principal):
            raise Forbidden()
        return pilot_warnings(store.pilot_context(self.row, c.plugins), c.plugins)

    @strawberry.field(description="The enabled plugins' settings, secrets masked (national office only).")
    def plugin_settings(self, info: Info) -> list[PluginSettings]:
        from perlinsos.pilots.rollout import shown_settings

        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        if not policy.can_roll_out_pilots(c.principal):
            raise Forbidden()
        return [PluginSettings(name=name, settings=shown_settings(c.plugins, name, settings))
                for name, settings in sorted(self.plugin_data.items())]

    @strawberry.field(description="Whether registration is open now.")
    def registration_open(self) -> bool:
        return self.registration_opens_at <= utcnow() < self.registration_closes_at

    @classmethod
    def from_row(cls, row) -> Pilot:
        return cls(
            id=to_global_id("Pilot", row.id),
            code=row.code,
            name=row.name,
            regions=[region(c) for c in row.region_codes],
            programmes=list(row.programmes),
            languages=list(row.languages),
            registration_opens_at=row.registration_opens_at,
            registration_closes_at=row.registration_closes_at,
            appeal_opens_at=row.appeal_opens_at,
            appeal_closes_at=row.appeal_closes_at,
            enabled_plugins=sorted(row.plugins),
            training=bool(getattr(row, "training", False)),
            plugin_data=dict(row.plugins),
            row=row,
        )


def _hooks(info: Info, row):
    c = ctx(info)
    return c.plugins.for_pilot(store.pilot_context(row, c.plugins))
