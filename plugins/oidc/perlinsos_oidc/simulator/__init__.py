"""A local OpenID Connect provider (a region's SSO, simulated): discovery, JWKS (EC P-256) and a
development token endpoint. ``create_simulator(issuer, audience)`` returns a Starlette app (serve it
with uvicorn; ``perlinsos oidc-sim`` does). See ``plugins/oidc/README.md``."""

from perlinsos_oidc.simulator.app import SimulatorState, create_simulator
from perlinsos_oidc.simulator.keys import SigningKey

__all__ = ["SigningKey", "SimulatorState", "create_simulator"]
