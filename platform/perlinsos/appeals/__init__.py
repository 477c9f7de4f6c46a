"""Stage 4 — appeal (sanggah): the owner of a NIK disputes a decision with evidence and
comparison data; a reviewer of the region decides; an upheld appeal corrects the facts and
selection runs again for that registration.

* :mod:`.filing` checks and files an appeal (owner-only, window, grounds, evidence),
* :mod:`.review` moves it through the workflow (claim, uphold, dismiss, withdraw).
"""
