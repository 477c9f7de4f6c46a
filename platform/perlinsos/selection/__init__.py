"""Stage 2 — selection (seleksi): facts through consent, every criterion, explainable decisions.

* :mod:`.chunks` reads registrations with what selection needs,
* :mod:`.evaluate` runs the criteria and computes outcome, texts and the inputs' digest,
* :mod:`.engine` streams a pilot in chunks and writes decisions (with their notifications),
* :mod:`.stability` says when a re-run writes a new version (what the citizen is told changed;
  a failed source keeps the current one), :mod:`.writes` writes a chunk's versions and audit rows,
* :mod:`.preview` evaluates stored inputs under proposed limits, writing nothing.
"""

from perlinsos.selection.engine import DEFAULT_CHUNK, Summary, WorkResult, begin, run_selection, work

__all__ = ["DEFAULT_CHUNK", "Summary", "WorkResult", "begin", "run_selection", "work"]
