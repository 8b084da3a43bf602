"""The entry points, each a `python -m commands.<name>`: `api` (the GraphQL server), `bridge`
(one bridge worker), `feed` (a market feed into the tick log), `migrate` (database migrations
and reference data), `admin` (grant or revoke the admin role), `schema` (print the SDL)."""
