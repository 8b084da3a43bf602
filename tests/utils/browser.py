"""Real headless Chromium for end-to-end tests, driven by Playwright.

Debian's `chromium` is used (`apt-get install chromium`): Playwright's own browser download
does not work on these machines, so `playwright install` is never run. A test module launches
one browser (`chromium()`); each test opens its own context and page in it (`browser_page()`),
so cookies and local storage never leak between tests. Uncaught errors of the page's scripts
are collected so a test can fail on them.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from settings import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
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


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium, closed (with every context) on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class BrowserPage:
    page: Page
    errors: list[str] = field(default_factory=list)  # uncaught exceptions of the page's scripts
    console_errors: list[str] = field(default_factory=list)  # console.error, failed loads

    async def screenshot(self, name: str) -> Path:
        """A PNG under test-artifacts/, kept after the run."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


@asynccontextmanager
async def browser_page(
    browser: Browser,
    *,
    width: int = 1440,
    height: int = 900,
    permissions: Sequence[str] = (),
    origin: str | None = None,
) -> AsyncIterator[BrowserPage]:
    """A fresh context (its own storage) with one page; `permissions` are granted to `origin`."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    if permissions:
        await context.grant_permissions(list(permissions), origin=origin)
    opened = BrowserPage(await context.new_page())
    opened.page.on("pageerror", lambda error: opened.errors.append(str(error)))
    opened.page.on(
        "console",
        lambda message: (
            opened.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    try:
        yield opened
    finally:
        for error in opened.errors:  # shown by pytest when the test fails
            print(f"page error: {error}")
        for error in opened.console_errors:
            print(f"console error: {error}")
        await context.close()
