"""The Redis bus: one pub/sub connection and one listener task per process.

Redis pub/sub is at-most-once: a message published while this process is disconnected is
gone. So every (re)connect delivers RESYNC to all local inboxes, and publishing while Redis
is known to be down is skipped rather than waited for: consumers re-read the store on a
safety poll, so an outage only delays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from eventstore.bus import Subscription
from eventstore.fanout import Fanout
from eventstore.group_commit import GroupCommit
from eventstore.messages import Notice, decode, encode
from eventstore.metrics import observe_resync
from eventstore.tasks import BackgroundTask

logger = logging.getLogger(__name__)

LISTEN_TIMEOUT = 1.0
MAX_BACKOFF = 2.0
MAX_PIPELINE = 128


class RedisBus:
    """Publishes to Redis and fans Redis messages out to this process's inboxes."""

    def __init__(self, url: str, *, namespace: str = "orderly", socket_timeout: float = 1.0) -> None:
        self._url = url
        # Deployments (or test databases) sharing one Redis must not hear each other's
        # positions: every channel is prefixed with the namespace.
        self._prefix = f"{namespace}:"
        self._client = aioredis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self._fanout: Fanout[str] = Fanout()
        # Notices published while a round trip is in flight go out together in one pipeline
        # (group_commit.py): one publish costs about 90 us of client CPU, pipelined 30 us.
        self._outbox: GroupCommit[tuple[str, bytes], None] = GroupCommit(self._publish_batch, max_batch=MAX_PIPELINE)
        self._listener = BackgroundTask(self._listen, "orderly-redis-listener")
        self._connected = asyncio.Event()
        self._healthy = False

    async def start(self) -> None:
        """Start the listener and wait briefly for its first connection (Redis may be down)."""
        self._listener.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=2.0)

    async def close(self) -> None:
        """Stop the listener and close the connections."""
        await self._listener.stop()
        await self._client.aclose()

    async def publish(self, channel: str, notice: Notice) -> None:
        """Publish; a Redis outage is logged and skipped (the store stays the truth)."""
        if not self._healthy:
            return
        await self._outbox.submit((self._prefix + channel, encode(notice)))

    async def _publish_batch(self, messages: list[tuple[str, bytes]]) -> list[None]:
        """Send the notices in order, in one round trip; an outage is logged, never raised."""
        try:
            if len(messages) == 1:
                await self._client.publish(*messages[0])
            else:
                async with self._client.pipeline(transaction=False) as pipeline:
                    for channel, payload in messages:
                        pipeline.publish(channel, payload)
                    await pipeline.execute()
        except (RedisError, OSError) as error:
            logger.warning("redis publish of %d notices on %s failed: %r", len(messages), messages[0][0], error)
        return [None] * len(messages)

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """A local inbox; the Redis subscription is shared by the whole process."""
        return self._fanout.subscribe(*channels)

    def subscriber_count(self) -> int:
        """Open local inboxes."""
        return self._fanout.count()

    def is_healthy(self) -> bool:
        """Whether the listener is connected to Redis now."""
        return self._healthy

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self._prefix + "*")
                self._healthy = True
                self._connected.set()
                backoff = 0.1
                # Whatever was published while we were not subscribed is lost: tell everyone.
                self._fanout.deliver_resync()
                observe_resync("bus")
                logger.info("redis bus listening on %s", self._url)
                while True:
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT)
                    if message is not None and message["type"] == "pmessage":
                        self._deliver(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                if self._healthy:
                    logger.warning("redis bus disconnected: %r; reconnecting", error)
                self._healthy = False
                self._fanout.deliver_resync()
                observe_resync("bus")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                close: Callable[[], Awaitable[object]] = pubsub.aclose  # unannotated in redis-py
                with contextlib.suppress(Exception):
                    await close()

    def _deliver(self, message: dict[str, object]) -> None:
        channel = message["channel"]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        self._fanout.deliver(name.removeprefix(self._prefix), decode(message["data"]))  # type: ignore[arg-type]
