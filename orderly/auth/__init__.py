"""Authentication: tokens in, a Principal out (HTTP headers and WebSocket connection_init)."""
