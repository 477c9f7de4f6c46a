"""A GraphQL client for tests: the app in process (no server), a pilot header, a bearer token."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import httpx

from perlinsos.testing import signin
from perlinsos.testing.accounts import assign_staff

#: the base URL of the in-process app
BASE_URL = "http://perlinsos.test"


@dataclass
class GraphQLClient:
    """Posts to ``/graphql`` of an app, for ``pilot`` (the ``X-Perlinsos-Pilot`` header), signed in
    with ``token`` (``None``: anonymous). ``as_citizen``, ``as_facilitator``, ``as_reviewer`` and
    ``as_admin`` return a copy signed in with the kit's sign-in (staff assignments written for them;
    they need ``db`` and ``plugins``, which the ``perlinsos_client`` fixture gives)."""

    http: httpx.AsyncClient
    pilot: str | None = None
    token: str | None = None
    db: Any = None
    plugins: Any = None

    async def post(self, query: str, variables: dict | None = None, *, token: str | None = None,
                   language: str | None = None, operation_name: str | None = None,
                   pilot: str | None = None) -> httpx.Response:
        """The raw response (any status). ``token`` and ``pilot`` override the client's own."""
        headers = {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        if pilot or self.pilot:
            headers["X-Perlinsos-Pilot"] = pilot or self.pilot
        if language:
            headers["Accept-Language"] = language
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        return await self.http.post("/graphql", json=body, headers=headers)

    async def query(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict[str, Any]:
        """The JSON body (``data`` and maybe ``errors``) of a 200 response; AssertionError otherwise."""
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict[str, Any]:
        """``data`` of a response without ``errors``; AssertionError (with the errors) otherwise."""
        body = await self.query(query, variables, **kwargs)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def signed_in(self, token: str | None) -> GraphQLClient:
        """A copy of this client signed in with ``token`` (``None``: signed out)."""
        return dataclasses.replace(self, token=token)

    def as_citizen(self, nik: str) -> GraphQLClient:
        """Signed in as the citizen with ``nik`` (the kit's sign-in is national: the NIK is theirs)."""
        return self.signed_in(signin.citizen_token(nik))

    async def as_facilitator(self, subject: str = "pendamping", villages: tuple[str, ...] = ("35.10.15.2004",),
                             *, pilot: str | None = None) -> GraphQLClient:
        """Signed in as a facilitator (pendamping) assigned to ``villages`` in the pilot."""
        for village in villages:
            await self._assign(subject, "FACILITATOR", village, pilot or self.pilot)
        return self.signed_in(signin.staff_token(subject))

    async def as_reviewer(self, subject: str = "peninjau", regions: tuple[str, ...] = ("35.10",), *,
                          pilot: str | None = None) -> GraphQLClient:
        """Signed in as a reviewer of ``regions`` (kode wilayah) in the pilot."""
        for region in regions:
            await self._assign(subject, "REVIEWER", region, pilot or self.pilot)
        return self.signed_in(signin.staff_token(subject))

    async def as_admin(self, subject: str = "kantor-pusat", region: str = "35") -> GraphQLClient:
        """Signed in as the national office (a national ADMIN assignment)."""
        await self._assign(subject, "ADMIN", region, None)
        return self.signed_in(signin.staff_token(subject))

    async def _assign(self, subject: str, role: str, region: str, pilot: str | None) -> None:
        if self.db is None or self.plugins is None:
            raise RuntimeError("this client has no database to write staff assignments to: use the "
                               "perlinsos_client fixture, or give GraphQLClient db= and plugins=")
        await assign_staff(self.db, self.plugins, subject, role, region, pilot=pilot)
