"""The behaviour behind each GraphQL field: plain async functions over session, cache and hub."""
