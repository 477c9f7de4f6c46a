"""``IkdSimulator``: the IKD simulator as a real subprocess (``perlinsos ikd-sim``) on a free port.

The ``perlinsos_ikd`` fixture gives a session's simulator, reset around each test.

    with IkdSimulator(people=200, seed=2025) as ikd:
        token = ikd.sign_in(ikd.people(limit=1)[0]["nik"])
        settings = ikd.settings()          # IkdSettings for a pilot's plugins={"ikd": ...}

Everything goes over HTTP, exactly as the platform talks to IKD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perlinsos_ikd import tokens
from perlinsos_ikd.settings import IkdSettings

from perlinsos.testing.servers import SubprocessServer, free_port

DEFAULT_SECRET = "test-ikd-secret"
DEFAULT_AUDIENCE = "perlinsos-portal"


class IkdSimulator(SubprocessServer):
    """A running ``perlinsos ikd-sim`` on a free local port."""

    def __init__(self, people: int = 200, seed: int = 2025, *, audience: str = DEFAULT_AUDIENCE,
                 client_secret: str = DEFAULT_SECRET, issuer: str | None = None, startup_timeout: float = 60,
                 regions: Sequence[str] | Mapping[str, int] | None = None):
        """``regions``: regency codes to populate (``people`` shared by population) or regency code →
        people; ``None`` leaves the command's default (Banyuwangi)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = issuer or self.url
        self.audience, self.client_secret, self.people_count, self.seed = audience, client_secret, people, seed
        self.regions = regions
        region_args: list[str] = []
        for code in regions or ():
            region_args += ["--region", f"{code}={regions[code]}" if isinstance(regions, Mapping) else code]
        tokens.reset()  # keys cached from an earlier simulator must not outlive it in this process
        self._start("ikd-sim", ["--port", str(self.port), "--people", str(people), "--seed", str(seed),
                                "--audience", audience, "--client-secret", client_secret, "--issuer", self.issuer,
                                *region_args],
                    url=self.url, ready_path="/.well-known/openid-configuration", timeout=startup_timeout)

    # --- identity -------------------------------------------------------------------------------

    def sign_in(self, nik: str, **extra: Any) -> str:
        """A citizen's access token (raises for an unknown NIK)."""
        return self.tokens(nik=nik, **extra)["access_token"]

    def sign_in_staff(self, staff_id: str, name: str | None = None, **extra: Any) -> str:
        return self.tokens(staff_id=staff_id, name=name, **extra)["access_token"]

    def tokens(self, **body: Any) -> dict[str, Any]:
        response = self.http.post("/sim/sign-in", json=body)
        response.raise_for_status()
        return response.json()

    def sign(self, *, claims: dict[str, Any] | None = None, omit: tuple[str, ...] = (), algorithm: str = "RS256",
             headers: dict[str, Any] | None = None, **subject: Any) -> str:
        """Test-only: a token signed by the issuer's key with claims changed or left out."""
        response = self.http.post("/sim/sign", json={**subject, "claims": claims or {}, "omit": list(omit),
                                                      "algorithm": algorithm, "headers": headers or {}})
        response.raise_for_status()
        return response.json()["token"]

    def rotate_key(self, retire_previous: bool = False) -> str:
        response = self.http.post("/sim/rotate-key", json={"retire_previous": retire_previous})
        response.raise_for_status()
        return response.json()["kid"]

    def jwks(self) -> dict[str, Any]:
        return self.http.get("/jwks.json").json()

    # --- consent ----------------------------------------------------------------------------------

    def grant(self, nik: str, scopes: tuple[str, ...] = ("person",), purpose: str = "bansos-selection",
              **extra: Any) -> dict[str, Any]:
        """Sign ``nik`` in and give a consent grant as that citizen."""
        response = self.http.post("/consents", headers={"Authorization": f"Bearer {self.sign_in(nik)}"},
                                  json={"scopes": list(scopes), "purpose": purpose, **extra})
        response.raise_for_status()
        return response.json()

    def grants(self, nik: str | None = None) -> list[dict[str, Any]]:
        """The grants IKD holds (``nik``'s only when given), revoked ones included."""
        response = self.http.get("/sim/grants", params={"nik": nik} if nik else {})
        response.raise_for_status()
        return response.json()["grants"]

    def revoke(self, grant_id: str) -> None:
        self.http.delete(f"/consents/{grant_id}", headers=self.secret_headers()).raise_for_status()

    def secret_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.client_secret}"}

    # --- the population and the controls --------------------------------------------------------

    def people(self, limit: int = 50, offset: int = 0, village: str | None = None, **filters: Any) -> list[dict]:
        """Synthetic people with their household's expected PKH reasons and data errors.
        Filters: ``region`` (any region code they live within, e.g. "35.09"), ``role`` (HEAD,
        SPOUSE, CHILD, PARENT), ``reason`` (a PKH reason code), ``error`` (NIK_MISUSE,
        ELECTRICITY_MISRECORDED or "any")."""
        params = {"limit": limit, "offset": offset, **({"village": village} if village else {}),
                  **{k: v for k, v in filters.items() if v is not None}}
        response = self.http.get("/sim/people", params=params)
        response.raise_for_status()
        return response.json()["people"]

    def set_fault(self, mode: str | None, delay_seconds: float = 0, paths: tuple[str, ...] = ()) -> None:
        """``down`` (503), ``slow`` (sleep ``delay_seconds``), ``garbage`` (invalid body), ``cut`` (do
        the work, then close the connection after the answer's headers) or None. ``paths``: prefixes,
        optionally after a method (``"POST /consents"``)."""
        self.http.post("/sim/faults", json={"mode": mode, "delay_seconds": delay_seconds,
                                            "paths": list(paths)}).raise_for_status()

    def stats(self) -> dict[str, int]:
        """Requests served, by method and route (e.g. ``"GET /jwks.json"``)."""
        return self.http.get("/sim/stats").json()["requests"]

    def reset(self) -> None:
        """Clear the counters and faults (grants and keys stay)."""
        self.http.post("/sim/reset").raise_for_status()

    def settings(self, **overrides: Any) -> IkdSettings:
        """IkdSettings pointing at this simulator."""
        values = {"issuer": self.issuer, "audience": self.audience, "client_secret": self.client_secret}
        return IkdSettings(**(values | overrides))
