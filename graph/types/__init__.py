"""GraphQL object types, each mapped explicitly from the internal shapes."""
