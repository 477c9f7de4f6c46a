"""A local IKD simulator: a real HTTP identity provider over a synthetic population.

``create_simulator(population, issuer, audience, client_secret)`` returns a Starlette app (serve
it with uvicorn; ``perlinsos ikd-sim`` does). See ``plugins/ikd/README.md`` for the endpoints.
"""

from perlinsos_ikd.simulator.app import create_simulator
from perlinsos_ikd.simulator.state import SimulatorState

__all__ = ["SimulatorState", "create_simulator"]
