"""Staff accounts for tests: assignments written through the platform's own rules
(:func:`perlinsos.identity.staff.assign`, as ``perlinsos staff assign`` writes them)."""

from __future__ import annotations

from typing import Any

from perlinsos.plugins import PluginManager
from perlinsos.testing import signin


async def assign_staff(db: Any, plugins: PluginManager, subject: str, role: str, region_code: str, *,
                       pilot: str | None = None, issuer: str = signin.ISSUER, name: str | None = None) -> int:
    """Give ``(issuer, subject)`` ``role`` (FACILITATOR, REVIEWER or ADMIN) in ``region_code`` of the
    stored pilot ``pilot``, or nationally without one (ADMIN always is). The issuer defaults to the
    kit's sign-in. Refused as the platform refuses it (a region outside the pilot, an issuer the pilot
    does not trust, a national role for a regional provider). Returns the assignment's id."""
    from perlinsos.identity import staff

    async with db.write() as session:
        row = await staff.assign(session, None, subject=subject, role=role, region_code=region_code,
                                 issuer=issuer, plugins=plugins, pilot_code=pilot, name=name)
        return row.id
