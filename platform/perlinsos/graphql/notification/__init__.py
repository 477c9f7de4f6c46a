"""GraphQL for stage 3: notifications, the citizen's inbox and the national office's outbox."""
