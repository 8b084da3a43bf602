"""The Strawberry schema: types, roots, context and limits. Fields delegate to `resolvers/`."""
