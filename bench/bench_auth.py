"""The benchmarks' identity plugin: ``staff:<subject>`` bearer tokens, nothing verified.

Loaded into a server with ``PERLINSOS_EXTRA_PLUGINS=bench_auth`` (this directory on
``PYTHONPATH``) and enabled in the pilot as ``plugins.bench_auth = {}``. Roles still come from
the platform's staff assignments, exactly as with a real identity provider. Never deploy it.
"""

from perlinsos import hookimpl
from perlinsos.contract import SIGN_IN, IdentityProvider, Principal

NAME = "bench_auth"  # an extra plugin given as a module path is named by that path
ISSUER = "urn:perlinsos:bench"
#: the benchmarks' national providers (PERLINSOS_NATIONAL_PROVIDERS): its ADMIN is national, as IKD's is
NATIONAL = ("ikd", NAME)


@hookimpl
def identity_providers(pilot):
    return [IdentityProvider(issuer=ISSUER, name="Bench sign-in", capabilities=frozenset({SIGN_IN}))]


@hookimpl
def authenticate(token, pilot):
    kind, _, value = token.partition(":")
    if kind == "staff" and value:
        return Principal(subject=value, kind="staff", name=value, issuer=ISSUER)
    return None
