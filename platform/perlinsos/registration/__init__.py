"""Stage 1 — registration (pendaftaran): a citizen, alone or on a facilitator's phone, consents to
data access and registers their household for a programme.

* :mod:`.consent` records consent (given by the citizen, withdrawable) and fetches the person record,
* :mod:`.people` upserts persons and households as the population record gives them,
* :mod:`.service` registers a household and reads registrations within what a viewer may see,
* :mod:`.citizen` gathers a citizen's own records and timeline for the portal's "me" page.
"""

# The stage's public API for the other stages.
from perlinsos.registration.consent import DEFAULT_PURPOSE, check_facilitator

__all__ = ["DEFAULT_PURPOSE", "check_facilitator"]
