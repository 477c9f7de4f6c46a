"""Appeal evidence files (ARCHITECTURE §4): uploaded over ``POST /evidence``, stored by sha256
outside any served directory, downloadable only by those who may see the appeal.

* :mod:`.routes` — the HTTP endpoints (``POST /evidence``, ``GET``/``DELETE /evidence/{id}``);
* :mod:`.service` — records, the count limit, who may download, attaching to an appeal;
* :mod:`.storage` — the storage interface and the local folder (atomic, content-addressed);
* :mod:`.sniff` — the type from the content (JPEG, PNG, PDF), never from the name;
* :mod:`.names` — file names refused or sanitised;
* :mod:`.errors` — the refusals, with codes, HTTP statuses and texts in both languages.

For the appeals service::

    files = await attachable(session, actor.citizen.identity, evidence_ids)  # while checking
    await attach(session, appeal.id, files)                                  # in the filing transaction
"""

from perlinsos.appeals.evidence.errors import EvidenceRefused
from perlinsos.appeals.evidence.service import (
    BASE_KINDS,
    attach,
    attachable,
    kinds,
    sweep_orphans,
    unattached,
)
from perlinsos.appeals.evidence.storage import LocalStorage, Storage

__all__ = [
    "BASE_KINDS",
    "EvidenceRefused",
    "LocalStorage",
    "Storage",
    "attach",
    "attachable",
    "kinds",
    "sweep_orphans",
    "unattached",
]
