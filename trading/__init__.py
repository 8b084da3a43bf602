"""The trading core: orders, fills, positions and cash, price alerts, and the per-user events
they produce, as plain functions over a database session and explicit inputs (a quote, an
instrument, a user id). The API's resolvers and the bridge's stages both call it; it knows
nothing of GraphQL, the cache, pub/sub or Kafka: publishing the events it records is the
caller's job, after the commit."""
