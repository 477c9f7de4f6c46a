"""The per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info

from perlinsos.contract import PilotContext, Principal
from perlinsos.db.engine import Database
from perlinsos.graphql.loaders import Loaders
from perlinsos.plugins import PilotHooks, PluginManager
from perlinsos.settings import Settings


@dataclass
class Context:
    db: Database
    plugins: PluginManager
    settings: Settings
    pilot: PilotContext | None
    hooks: PilotHooks | None
    principal: Principal | None
    language: str
    loaders: Loaders
    request: Any = None
    #: the request's own bearer token (a citizen's IKD token is passed on to consent grants).
    token: str | None = None
    #: the signed-in citizen's own household (None for staff and anonymous viewers).
    viewer_household_id: int | None = None
    #: the process's pilot cache (perlinsos.graphql.view.PilotCache): a pilot edit forgets its entry
    pilot_cache: Any = None
    #: set by strawberry from a websocket's connection_init payload
    connection_params: dict | None = None
    #: person ids whose personal data this request showed to someone other than the owner;
    #: written to the audit log when the operation ends.
    accessed_people: set[int] = field(default_factory=set)

    def record_access(self, person_id: int) -> None:
        self.accessed_people.add(person_id)


def ctx(info: Info) -> Context:
    return info.context


