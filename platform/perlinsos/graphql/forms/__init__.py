"""GraphQL describing the forms a frontend renders: appeal grounds, evidence kinds, programmes."""
