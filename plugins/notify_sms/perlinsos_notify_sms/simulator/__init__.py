"""A local SMS gateway simulator: a real HTTP server that accepts messages, de-duplicates them by
idempotency key, sends signed delivery reports, and can be told to fail, slow down or drop answers.

``create_simulator(api_key)`` returns a Starlette app (serve it with uvicorn; ``perlinsos sms-sim``
does). See ``plugins/notify_sms/README.md`` for the endpoints.
"""

from perlinsos_notify_sms.simulator.app import create_simulator
from perlinsos_notify_sms.simulator.state import GatewayState

__all__ = ["GatewayState", "create_simulator"]
