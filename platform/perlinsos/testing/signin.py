"""The kit's test sign-in plugin (registered as ``perlinsos_test_signin``): bearer tokens that name
who is signing in, for tests only — never install it in a deployment.

* ``citizen:<NIK>`` — a citizen with that NIK (subject ``citizen-<NIK>``);
* ``staff:<subject>`` — a staff member; their roles come from the platform's staff assignments,
  exactly as for a real provider (:func:`perlinsos.testing.assign_staff` writes them);
* ``bad:<anything>`` — a token this provider recognises and refuses (authentication fails).

It declares its issuer (:data:`ISSUER`) through ``identity_providers``, so a pilot that enables it
trusts it for sign-in; the kit's plugin manager marks it national (as IKD is), so a citizen signed
in with it is the owner of that NIK and an ADMIN assignment for it is allowed.
"""

from perlinsos import hookimpl
from perlinsos.contract import SIGN_IN, IdentityProvider, Principal
from perlinsos.errors import AuthenticationFailed

NAME = "perlinsos_test_signin"
ISSUER = "urn:perlinsos:testing:signin"
#: the providers the kit's plugin manager marks national: IKD and this plugin
NATIONAL = ("ikd", NAME)


def citizen_token(nik: str) -> str:
    """The bearer token of the citizen with ``nik``."""
    return f"citizen:{nik}"


def staff_token(subject: str) -> str:
    """The bearer token of the staff member ``subject`` (roles: their staff assignments)."""
    return f"staff:{subject}"


@hookimpl
def identity_providers(pilot):
    return [IdentityProvider(issuer=ISSUER, name="Test sign-in (perlinsos.testing)", capabilities=frozenset({SIGN_IN}))]


def principal_for(token: str, issuer: str) -> Principal | None:
    """Who a test token names, as signed by ``issuer`` (``None``: not a test token). A project may
    run its own test sign-in with another issuer on the same tokens (the platform's tests do)."""
    kind, _, value = token.partition(":")
    if kind == "citizen" and value:
        return Principal(subject=f"citizen-{value}", kind="citizen", nik=value, issuer=issuer)
    if kind == "staff" and value:
        return Principal(subject=value, kind="staff", name=value, issuer=issuer)
    if kind == "bad":
        raise AuthenticationFailed("signature mismatch")
    return None


@hookimpl
def authenticate(token, pilot):
    return principal_for(token, ISSUER)
