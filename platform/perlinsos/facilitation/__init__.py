"""Facilitators first (issue 14): the worklist of a facilitator's villages, and the built-in
notification channel ``facilitator`` — a decision the pilot's channels could not deliver (no
reachable phone, an SMS undeliverable) becomes a task for a facilitator of the village, who
explains it in person; only their record of it makes the notification DELIVERED.

Free of GraphQL: :mod:`perlinsos.graphql.facilitation` only translates.
"""

from perlinsos.facilitation.tasks import CHANNEL, channel_order, escalate

__all__ = ["CHANNEL", "channel_order", "escalate"]
