"""Headless Chromium (Debian's, driven by Playwright) that may only talk to this machine."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.services import skip_or_fail

CHROMIUM = Path(os.environ.get("ORDERLY_CHROMIUM", "/usr/bin/chromium"))
# Playwright's own browser download does not work here: it drives the system's Chromium.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def require_browser() -> None:
    """Skip (or fail under ORDERLY_REQUIRE_SERVICES=1) when Playwright or Chromium is missing."""
    if importlib.util.find_spec("playwright") is None:
        skip_or_fail("playwright is not installed: .venv/bin/pip install -e '.[test]'")
    if not CHROMIUM.exists():
        skip_or_fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set ORDERLY_CHROMIUM)")


def is_loopback(url: str) -> bool:
    """Whether a URL points at this machine (data: and blob: URLs never leave the page)."""
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOOPBACK_HOSTS


@dataclass
class PageLog:
    """What a page tried and what went wrong in it, for assertions and failure messages."""

    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def websocket_opened(self, socket: Any) -> None:
        """WebSockets bypass context.route: record any that leaves the machine."""
        if not is_loopback(socket.url):
            self.blocked.append(socket.url)

    def page_error(self, error: Exception) -> None:
        """An uncaught exception in the page."""
        self.page_errors.append(str(error))

    def console_message(self, message: Any) -> None:
        """Keep console errors for the failure message."""
        if message.type == "error":
            self.console_errors.append(message.text)

    def summary(self) -> str:
        """A few lines to put in an assertion message."""
        return f"blocked={self.blocked} page_errors={self.page_errors} console_errors={self.console_errors[-5:]}"


@asynccontextmanager
async def offline_page() -> AsyncIterator[tuple[Any, PageLog]]:
    """A fresh page whose every request to a host other than loopback is aborted and recorded."""
    from playwright.async_api import Route, async_playwright

    log = PageLog()

    async def guard(route: Route) -> None:
        if is_loopback(route.request.url):
            await route.continue_()
        else:
            log.blocked.append(route.request.url)
            await route.abort("blockedbyclient")

    async with async_playwright() as playwright:
        # Names other than localhost do not resolve at all: WebSockets, which context.route
        # does not see, cannot leave the machine by name either.
        no_dns = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, no_dns])
        try:
            context = await browser.new_context()
            context.set_default_timeout(15_000)
            await context.route("**/*", guard)
            page = await context.new_page()
            page.on("websocket", log.websocket_opened)
            page.on("pageerror", log.page_error)
            page.on("console", log.console_message)
            yield page, log
        finally:
            await browser.close()
