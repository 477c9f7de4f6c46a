"""GraphQL for pilots: public facts about a rollout, and rolling out (national office)."""
