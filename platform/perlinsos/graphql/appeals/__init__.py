"""GraphQL for stage 4: appeals (sanggah) with their evidence, filing and review."""
