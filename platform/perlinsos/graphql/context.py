"""The per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info

from perlinsos.contract import PilotContext, Principal
from perlinsos.db.engine import Database
from perlinsos.graphql.loaders import Loaders
from perlinsos.graphql.relay import to_global_id
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
    #: Registrant global id -> person id, for people whose data this request may show to someone
    #: other than the owner (the policy's call, in Registrant.from_row): candidates only.
    access_candidates: dict[str, int] = field(default_factory=dict)
    #: (response path, person ids, purpose): what the execution completed at a path. The access log
    #: keeps a mark only if its path survives in the answer's ``data`` (extensions.AccessLog).
    access_marks: list[tuple[tuple, tuple[int, ...], str]] = field(default_factory=list)
    #: set when the access log was written: a branch still running after that adds nothing
    access_closed: bool = False

    def record_access(self, person_id: int) -> None:
        """``person_id``'s data is about to be shown to a non-owner as a Registrant: logged if that
        Registrant object reaches the client (the execution context marks where it is completed)."""
        self.access_candidates[to_global_id("Registrant", person_id)] = person_id

    def mark_access(self, path: list | tuple, person_ids, purpose: str = "graphql") -> None:
        """The value at response ``path`` carries these people's data: logged if it reaches the client."""
        if not self.access_closed and person_ids:
            self.access_marks.append((tuple(path), tuple(person_ids), purpose))


def ctx(info: Info) -> Context:
    return info.context


