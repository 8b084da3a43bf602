"""Real headless Chromium for end-to-end tests, driven by Playwright.

Debian's `chromium` is used (`apt-get install chromium`): Playwright's own browser download
does not work on these machines, so `playwright install` is never run. Each page gets a fresh
profile, and uncaught errors of the page's scripts are collected so a test can fail on them.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from settings import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is not installed: `apt-get install chromium` (scripts/test.sh does it)",
            pytrace=False,
        )
    return path


@dataclass
class BrowserPage:
    page: Page
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        """A PNG under test-artifacts/, kept after the run."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


@asynccontextmanager
async def browser_page(
    profile: Path, *, width: int = 1440, height: int = 900
) -> AsyncIterator[BrowserPage]:
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            opened = BrowserPage(page)
            page.on("pageerror", lambda error: opened.errors.append(str(error)))
            yield opened
        finally:
            for error in opened.errors:  # shown by pytest when the test fails
                print(f"page error: {error}")
            await context.close()
