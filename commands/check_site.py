"""`python -m commands.check_site [SITE]`: every internal link of the built docs site resolves.

`zensical build --strict` fails on a Markdown link to a missing page or anchor, but not on a
nav entry whose page is missing or an image that is not there; this reads the built HTML and
checks every `href` and `src` that stays on the site (the file exists, and so does the
fragment's `id` in it). It exits 1 and prints each broken link, or prints how many it checked.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from settings import ROOT


class Page(HTMLParser):
    """The links (`href`, `src`) and the element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, _tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in {"href", "src"}:
                self.links.append(value)
            elif name == "id":
                self.ids.add(value)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def target_file(site: Path, page: Path, path: str) -> Path:
    """The file a link's path names, relative to the page (a folder means its index.html)."""
    base = site if path.startswith("/") else page.parent
    target = (base / unquote(path).lstrip("/")).resolve()
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


def broken_links(site: Path) -> tuple[list[str], int]:
    """Each broken internal link as `page: link (why)`, and how many links were checked."""
    pages = {path.resolve(): parse(path) for path in site.rglob("*.html")}
    broken: list[str] = []
    checked = 0
    for path, page in pages.items():
        if path.name == "404.html":  # served at any depth, so its links are relative to none
            continue
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue
            checked += 1
            target = target_file(site, path, parts.path) if parts.path else path
            where = f"{path.relative_to(site.resolve())}: {link}"
            if not target.exists():
                broken.append(f"{where} (no such file)")
            elif target in pages and parts.fragment:
                anchor = unquote(parts.fragment)
                if anchor not in pages[target].ids:
                    broken.append(f"{where} (no such anchor)")
    return broken, checked


def main(site: Path) -> int:
    broken, checked = broken_links(site)
    for line in broken:
        print(line)
    if broken:
        print(f"{len(broken)} broken of {checked} internal links")
        return 1
    print(f"{checked} internal links checked, none broken")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"))
