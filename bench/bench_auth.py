"""The benchmarks' identity plugin: ``staff:<subject>`` bearer tokens, nothing verified.

Loaded into a server with ``PERLINSOS_EXTRA_PLUGINS=bench_auth`` (this directory on
``PYTHONPATH``) and enabled in the pilot as ``plugins.bench_auth = {}``. Roles still come from
the platform's staff assignments, exactly as with a real identity provider. Never deploy it.
"""

from perlinsos import hookimpl
from perlinsos.contract import Principal

NAME = "bench_auth"  # an extra plugin given as a module path is named by that path


@hookimpl
def authenticate(token, pilot):
    kind, _, value = token.partition(":")
    if kind == "staff" and value:
        return Principal(subject=value, kind="staff", name=value)
    return None
