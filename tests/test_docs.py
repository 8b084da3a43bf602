"""The docs site: its API reference is what `schema.graphql` gives, and it builds with every
internal link resolving (what `make docs` checks), from a copy of its sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from commands.api_reference import PAGE, SCHEMA, reference_markdown
from commands.check_site import broken_links
from settings import ROOT

# What `mkdocs.yml` reads: the pages, and the benchmark results it includes from bench/.
SOURCES = ("mkdocs.yml", "docs", "bench/README.md")


def test_api_reference_is_in_step_with_schema_graphql() -> None:
    expected = reference_markdown(SCHEMA.read_text())
    assert PAGE.read_text() == expected, "docs/reference/api.md is stale: run `make docs-reference`"


def test_the_api_reference_covers_every_root_field() -> None:
    page = reference_markdown(SCHEMA.read_text())
    for root, field in [
        ("queries", "quotes"),
        ("mutations", "placeorder"),
        ("subscriptions", "book"),
    ]:
        assert f"{{ #{root}-{field} }}" in page


def copy_sources(project: Path) -> None:
    for name in SOURCES:
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)


def test_the_docs_site_builds_strict_with_no_broken_link(tmp_path: Path) -> None:
    copy_sources(tmp_path)
    zensical = Path(sys.executable).parent / "zensical"
    built = subprocess.run(
        [str(zensical), "build", "--strict", "--clean"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    broken, checked = broken_links(tmp_path / "site")
    assert broken == []
    assert checked > 100
    assert (tmp_path / "site" / "reference" / "api" / "index.html").exists()


def test_the_link_check_finds_a_missing_page_an_anchor_and_an_image(tmp_path: Path) -> None:
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text('<h2 id="here">Here</h2>')
    (tmp_path / "index.html").write_text(
        '<a href="page/#here">ok</a> <a href="page/#gone">anchor</a>'
        ' <a href="missing/">page</a> <img src="x.png"> <a href="https://example.org/">out</a>'
    )
    broken, checked = broken_links(tmp_path)
    assert sorted(broken) == [
        "index.html: missing/ (no such file)",
        "index.html: page/#gone (no such anchor)",
        "index.html: x.png (no such file)",
    ]
    assert checked == 4
