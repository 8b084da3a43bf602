"""Trado's API: `python server.py` (what `make run` calls) serves GraphQL, health, metrics and
the board with uvicorn, in embedded mode unless the settings name the real services.

The app itself is built in `commands/api.py`, inside the import contracts, beside the other
entry points (`python -m commands.bridge`, `commands.feed`, `commands.migrate`, ...); this file
only starts it, so it imports nothing else (`tests/test_entry_point.py` keeps it so).
"""

from commands.api import main

if __name__ == "__main__":
    main()
