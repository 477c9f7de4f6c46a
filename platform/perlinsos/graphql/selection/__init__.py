"""GraphQL for stage 2: decisions and their reasons, selection runs and previews."""
