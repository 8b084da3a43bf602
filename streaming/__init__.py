"""Everything that moves live data: feeds, the tick log, the bridge, cache, pub/sub and hub."""
