"""Orderly: the composition root (settings, services, the ASGI app, the CLI and migrations)."""
