"""GraphiQL without the internet: its pinned assets are the committed files under
`web/graphiql/vendor/`, byte for byte what `assets.txt` records."""

from __future__ import annotations

import hashlib

from settings import ROOT

VENDOR = ROOT / "web" / "graphiql" / "vendor"


def pinned_assets() -> dict[str, str]:
    """file name -> sha256, from `assets.txt` (file, package@version, path, sha256)."""
    assets = {}
    for line in (VENDOR / "assets.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _package, _path, sha256 = line.split()
            assets[name] = sha256
    return assets


def test_the_committed_assets_match_their_recorded_checksums() -> None:
    assets = pinned_assets()
    assert {"react.production.min.js", "graphiql.min.js", "graphiql.min.css"} <= set(assets)
    for name, sha256 in assets.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == sha256, name
    on_disk = {path.name for path in VENDOR.iterdir()} - {"assets.txt"}
    assert on_disk == set(assets), "every file under vendor/ is pinned in assets.txt"
