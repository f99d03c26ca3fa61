"""How uvicorn serves the app: one configuration for `orderly serve` and for the test servers,
so the tests run what users run."""

from __future__ import annotations

from typing import Any

import uvicorn

from orderly.http_protocol import LimitedHttpToolsProtocol
from orderly.log_config import uvicorn_log_config
from orderly.settings import Settings

KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection stays open (uvicorn's default)


def uvicorn_config(app: Any, settings: Settings, *, host: str, port: int, log_level: str) -> uvicorn.Config:
    """uvicorn's Config for the app: httptools with the header limits and timeouts, WebSocket
    messages no larger than a request body."""
    limits = settings.transport_limits
    log_config = uvicorn_log_config(settings.log_format, log_level.upper())
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=LimitedHttpToolsProtocol.with_limits(limits),
        ws_max_size=limits.body_bytes,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        log_config=log_config,
    )
