"""Baselines the bench measures Orderly against, each served by uvicorn with one worker."""
