"""Candidate platform changes for the registration path, applied as patches so they can be measured
before anyone edits platform code.

MEASUREMENT ONLY — nothing here is imported by the platform. Pick candidates with
``BENCH_CANDIDATES=name,name`` (or ``all``) and run the platform side through this factory:

    BENCH_CANDIDATES=all .venv/bin/python bench/register.py --platform-factory candidates_register:create_app  # with tools/profiling on PYTHONPATH
    BENCH_CANDIDATES=members .venv/bin/python tools/profiling/profile_register.py

Each candidate names the platform file a real change would touch. On SQLite every statement costs
~0.6 ms of CPU (aiosqlite's thread hops) and every extra session ~0.6 ms more, so they remove statements:

(``members`` and ``readjoin``, measured here first, are now in the platform: people.upsert_person
and consent.live_consent_by_nik.)
* ``ctxone``   graphql/view.py + auth.py: ``get_context`` reads the principal's staff assignments and the
               citizen's household id in one ``UNION ALL`` statement instead of two (2 SELECTs -> 1).
"""

from __future__ import annotations

import os

from sqlalchemy import Integer, String, literal, null, select, union_all

ALL = ("ctxone",)


def apply(names: set[str]) -> None:
    if "ctxone" in names:
        _ctxone()


def _ctxone() -> None:
    from dataclasses import replace

    from cross_web import HTTPException

    from perlinsos.identity import auth
    from perlinsos.contract import Principal, Role, StaffScope
    from perlinsos.db.models import Person, Pilot, StaffAssignment
    from perlinsos.errors import AuthenticationFailed, ConfigurationError, SourceUnavailable
    from perlinsos.graphql import view
    from perlinsos.graphql.context import Context
    from perlinsos.languages import pick_language
    from perlinsos.graphql.loaders import Loaders

    async def get_context(self, request, response=None):  # view.GraphQLView.get_context, one statement
        state = self.state
        code = request.headers.get(view.PILOT_HEADER) or await state.pilots.default_code(state.settings.default_pilot)
        principal = household_id = None
        try:
            pilot = await state.pilots.get(code) if code else None
            if code and pilot is None:
                raise HTTPException(400, f"Unknown pilot {code!r} in the {view.PILOT_HEADER} header")
            hooks = state.plugins.for_pilot(pilot) if pilot else None
            token = auth.bearer_token(request.headers.get("authorization"))
            if token is not None:
                if hooks is None:
                    raise AuthenticationFailed("no pilot to authenticate against")
                principal = await hooks.first("authenticate", token=token)
                if not isinstance(principal, Principal):
                    raise AuthenticationFailed("no identity provider recognised the token")
                sa, pl = StaffAssignment, Pilot
                stmt = union_all(
                    select(sa.role.cast(String), sa.region_code, pl.code, null().cast(Integer))
                    .outerjoin(pl, pl.id == sa.pilot_id).where(sa.subject == principal.subject, sa.revoked_at.is_(None)),
                    select(literal(None, String), literal(None, String), literal(None, String), Person.household_id)
                    .where(Person.nik == principal.nik, literal(principal.is_citizen and bool(principal.nik))),
                )
                async with state.db.engine.connect() as conn:
                    rows = (await conn.execute(stmt)).all()
                scopes = tuple(StaffScope(Role(r[0]), r[1], r[2]) for r in rows if r[0] is not None)
                household_id = next((r[3] for r in rows if r[0] is None), None)
                principal = replace(principal, scopes=principal.scopes + scopes) if scopes else principal
        except AuthenticationFailed:
            raise HTTPException(401, "Token tidak sah atau kedaluwarsa. / Invalid or expired token.") from None
        except ConfigurationError as exc:
            raise HTTPException(503, f"Pilot misconfigured: {exc}") from None
        except SourceUnavailable:
            raise HTTPException(
                503, "Layanan identitas tidak dapat dihubungi. / The identity provider cannot be reached.") from None
        return Context(db=state.db, plugins=state.plugins, settings=state.settings, pilot=pilot, hooks=hooks,
                       principal=principal, language=pick_language(request.headers.get("accept-language")),
                       loaders=Loaders(state.db), request=request, token=token, viewer_household_id=household_id)

    view.GraphQLView.get_context = get_context


def selected() -> set[str]:
    raw = os.environ.get("BENCH_CANDIDATES", "")
    names = set(ALL) if raw.strip() == "all" else {n.strip() for n in raw.split(",") if n.strip()}
    unknown = names - set(ALL)
    if unknown:
        raise SystemExit(f"unknown BENCH_CANDIDATES {sorted(unknown)}; known: {', '.join(ALL)}")
    return names


def create_app():
    """``uvicorn --factory candidates_register:create_app``: the platform with ``BENCH_CANDIDATES`` applied."""
    apply(selected())
    from perlinsos.app import create_app as platform_app

    return platform_app()
