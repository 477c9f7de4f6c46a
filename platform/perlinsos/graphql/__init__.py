"""The GraphQL API, split per domain. Resolvers stay thin: they call the domain services."""
