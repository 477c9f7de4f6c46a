"""Stage 3 — notify (pemberitahuan): the transactional outbox and its dispatcher.

* :mod:`.templates` holds the texts (Bahasa Indonesia and English; per-pilot overrides),
* :mod:`.outbox` claims due rows, delivers them through channels and records the result,
* :mod:`.dispatcher` is the worker loop (``perlinsos notify run``; in-process on SQLite),
* :mod:`.inbox` is the portal inbox (``me.notifications``), :mod:`.broker` wakes subscriptions,
* :mod:`.reports` records a gateway's delivery reports.
"""

# The stage's public API for the other stages (selection and appeals queue notifications in the
# same transaction as their decisions; pilot files are checked against the templates).
from perlinsos.notification.keys import idempotency_key
from perlinsos.notification.templates import problems as template_problems

__all__ = ["idempotency_key", "template_problems"]
