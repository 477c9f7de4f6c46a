"""GraphQL for staff assignments (the national office manages them)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from perlinsos import policy
from perlinsos.identity import staff
from perlinsos.db import models
from perlinsos.errors import Problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import Forbidden, Unauthenticated
from perlinsos.graphql.payloads import UserError
from perlinsos.graphql.pilots.types import Region, region
from perlinsos.graphql.relay import Connection, build_connection, decode_cursor, from_global_id, page_size, to_global_id
from perlinsos.problems import problem

StaffRole = strawberry.enum(models.StaffRole, name="StaffRole")


@strawberry.type(description="A staff member's role within a region of one pilot, or national (no pilot).")
class StaffAssignment:
    id: strawberry.ID
    issuer: str = strawberry.field(description="The staff member's identity provider (OpenID issuer).")
    subject: str
    name: str | None
    role: StaffRole
    region: Region
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row) -> StaffAssignment:
        return cls(id=to_global_id("StaffAssignment", row.id), issuer=row.issuer, subject=row.subject, name=row.name,
                   role=row.role, region=region(row.region_code), created_at=row.created_at,
                   created_by=row.created_by, revoked_at=row.revoked_at)


@strawberry.input
class AssignStaffInput:
    subject: str = strawberry.field(description="The staff member's identity-provider subject.")
    role: StaffRole
    region_code: str = strawberry.field(description="Kode wilayah the role covers, inside the pilot's area.")
    pilot: str | None = strawberry.field(
        default=None, description="The pilot the role is for; none: national (a national provider's subject only).")
    issuer: str | None = strawberry.field(
        default=None, description="The staff member's identity provider (OpenID issuer); may be left out when "
                                  "the pilot (or the deployment, for a national role) trusts exactly one.")
    name: str | None = None


@strawberry.type
class StaffAssignmentPayload:
    assignment: StaffAssignment | None
    errors: list[UserError]


def _require_admin(info: Info) -> None:
    c = ctx(info)
    if c.principal is None:
        raise Unauthenticated()
    if not policy.can_administer(c.principal):
        raise Forbidden()


@strawberry.type
class StaffQueries:
    @strawberry.field(description="Staff assignments (national office only).")
    async def staff_assignments(self, info: Info, first: int | None = None, after: str | None = None,
                                include_revoked: bool = False) -> Connection[StaffAssignment]:
        _require_admin(info)
        c = ctx(info)
        size = page_size(first, c.settings.max_page_size)
        after_id = decode_cursor("StaffAssignment", after)
        async with c.db.read() as session:
            rows = await staff.page(session, after_id=after_id, limit=size + 1, include_revoked=include_revoked)
        return build_connection("StaffAssignment", rows, size, after_id, StaffAssignment.from_row)


@strawberry.type
class StaffMutations:
    @strawberry.mutation(description="Give a staff member a role in a region (national office only).")
    async def assign_staff(self, info: Info, input: AssignStaffInput) -> StaffAssignmentPayload:
        c = ctx(info)
        try:
            _check_admin(c)
            async with c.db.write() as session:
                row = await staff.assign(session, c.principal, subject=input.subject, role=input.role.value,
                                         region_code=input.region_code, pilot_code=input.pilot, name=input.name,
                                         issuer=input.issuer, plugins=c.plugins)
        except Problem as p:
            return StaffAssignmentPayload(assignment=None, errors=[UserError.of(p, c.language)])
        return StaffAssignmentPayload(assignment=StaffAssignment.from_row(row), errors=[])

    @strawberry.mutation(description="Revoke a staff assignment (national office only).")
    async def revoke_staff(self, info: Info, id: strawberry.ID) -> StaffAssignmentPayload:
        c = ctx(info)
        try:
            _check_admin(c)
            try:
                assignment_id = from_global_id("StaffAssignment", id)
            except Exception:  # noqa: BLE001 - a malformed id is "not found" for the user
                raise problem("ASSIGNMENT_NOT_FOUND") from None
            async with c.db.write() as session:
                row = await staff.revoke(session, c.principal, assignment_id)
        except Problem as p:
            return StaffAssignmentPayload(assignment=None, errors=[UserError.of(p, c.language)])
        return StaffAssignmentPayload(assignment=StaffAssignment.from_row(row), errors=[])


def _check_admin(c) -> None:
    if c.principal is None:
        raise problem("UNAUTHENTICATED")
    if not policy.can_administer(c.principal):
        raise problem("FORBIDDEN")
