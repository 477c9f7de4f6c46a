"""GraphQL for facilitators: the worklist of their villages and recording that a household was
informed. Resolvers translate; the rules are in :mod:`perlinsos.facilitation`."""
