"""GraphQL for stage 1: registrants, households, registrations, consent and the citizen's own page."""
