"""Who is who: from a bearer token to a principal, and the staff assignments that give roles.

Shared by every stage (below them): :mod:`.auth` authenticates through the pilot's identity
plugins and attaches staff roles; :mod:`.staff` manages the assignments.
"""
