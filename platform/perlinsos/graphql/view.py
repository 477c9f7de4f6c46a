"""The ``/graphql`` endpoint: Strawberry's ASGI view with our context and request limits."""

from __future__ import annotations

import time
from typing import Any

from cross_web import HTTPException
from sqlalchemy import select
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from perlinsos import auth
from perlinsos.db.models import Person
from perlinsos.errors import AuthenticationFailed, ConfigurationError, SourceUnavailable
from perlinsos.graphql.context import Context, pick_language
from perlinsos.graphql.loaders import Loaders
from perlinsos.pilots import store
from perlinsos.plugins import PluginManager

PILOT_HEADER = "x-perlinsos-pilot"
class PilotCache:
    """Pilot contexts by code, re-read every few seconds (several processes may edit pilots)."""

    def __init__(self, db, plugins: PluginManager, ttl: float = 5.0):
        self.db, self.plugins, self.ttl = db, plugins, ttl
        self._cache: dict[str, tuple[float, Any]] = {}

    async def get(self, code: str):
        hit = self._cache.get(code)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        async with self.db.read() as session:
            row = await store.get_pilot(session, code)
        context = store.pilot_context(row, self.plugins) if row else None
        self._cache[code] = (time.monotonic(), context)
        return context

    async def default_code(self, configured: str | None) -> str | None:
        if configured:
            return configured
        async with self.db.read() as session:
            rows = await store.list_pilots(session)
        return rows[0].code if len(rows) == 1 else None


class GraphQLView(GraphQL):
    def __init__(self, schema, *, state, **kwargs):
        super().__init__(schema, **kwargs)
        self.state = state

    async def parse_http_body(self, request):
        data = await super().parse_http_body(request)
        limit = self.state.settings.max_document_bytes
        for item in data if isinstance(data, list) else [data]:
            if item.query is not None and len(item.query.encode()) > limit:
                raise HTTPException(413, f"GraphQL document larger than {limit} bytes")
        return data

    async def on_ws_connect(self, context: Context):
        """Websockets carry no Authorization header from a browser: the token (and the pilot) come
        in ``connection_init``'s payload. A bad token closes the connection (4403)."""
        params = getattr(context, "connection_params", None) or {}
        raw = params.get("Authorization") or params.get("authorization")
        code = params.get("pilot") or (context.pilot.code if context.pilot else None)
        try:
            pilot = await self.state.pilots.get(code) if code else None
            hooks = self.state.plugins.for_pilot(pilot) if pilot else None
            token = auth.bearer_token(raw) if isinstance(raw, str) else None
            async with self.state.db.read() as session:
                principal = await auth.authenticate(token, hooks, session)
        except (AuthenticationFailed, ConfigurationError, SourceUnavailable):
            raise ConnectionRejectionError({"message": "Token tidak sah. / Invalid token."}) from None
        context.pilot, context.hooks, context.principal, context.token = pilot, hooks, principal, token
        return None

    async def get_context(self, request: Request | WebSocket, response=None) -> Context:
        state = self.state
        code = request.headers.get(PILOT_HEADER) or await state.pilots.default_code(state.settings.default_pilot)
        try:
            pilot = await state.pilots.get(code) if code else None
            if code and pilot is None:
                raise HTTPException(400, f"Unknown pilot {code!r} in the {PILOT_HEADER} header")
            hooks = state.plugins.for_pilot(pilot) if pilot else None
            token = auth.bearer_token(request.headers.get("authorization"))
            async with state.db.read() as session:
                principal = await auth.authenticate(token, hooks, session)
                household_id = None
                if principal is not None and principal.is_citizen and principal.nik:
                    household_id = (
                        await session.execute(select(Person.household_id).where(Person.nik == principal.nik))
                    ).scalar_one_or_none()
        except AuthenticationFailed:
            # Deliberately vague: which check failed helps an attacker, not the user.
            raise HTTPException(401, "Token tidak sah atau kedaluwarsa. / Invalid or expired token.") from None
        except ConfigurationError as exc:
            raise HTTPException(503, f"Pilot misconfigured: {exc}") from None
        except SourceUnavailable:
            raise HTTPException(
                503, "Layanan identitas tidak dapat dihubungi. / The identity provider cannot be reached."
            ) from None
        return Context(
            db=state.db,
            plugins=state.plugins,
            settings=state.settings,
            pilot=pilot,
            hooks=hooks,
            principal=principal,
            language=pick_language(request.headers.get("accept-language")),
            loaders=Loaders(state.db),
            request=request,
            token=token,
            viewer_household_id=household_id,
        )
