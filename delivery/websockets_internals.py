"""Every part of websockets that Trado uses without websockets publishing it, in one place.

- `websockets.speedups.apply_mask(data, mask)`: the C implementation of RFC 6455 §5.3's
  masking, which `delivery/lean_websocket.py` applies to every client frame it reads.
  websockets documents its connections and sans-io protocols, which unmask frames themselves,
  but not the function; unmasking in Python (a byte at a time) would cost the lean socket more
  than the rest of its reading.

`tests/test_library_contracts.py` checks it against the installed websockets (it exists and
unmasks as RFC 6455 says), `make upgrade-check` against the newest release, and
`pyproject.toml` bounds websockets below the first release not yet checked.
"""

from __future__ import annotations

from websockets.speedups import apply_mask

__all__ = ["apply_mask"]
