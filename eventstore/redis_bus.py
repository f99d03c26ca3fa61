"""The Redis bus: one pub/sub connection and one listener task per process.

Redis pub/sub is at-most-once: a message published while this process is disconnected is
gone. So every (re)connect delivers RESYNC to all local inboxes, and publishing while Redis
is known to be down is skipped rather than waited for: consumers re-read the store on a
safety poll, so an outage only delays them.

The process subscribes in Redis only to the channels its local inboxes listen to (SUBSCRIBE
per channel, never undone: a process uses a handful), not to a pattern covering every
channel: an API process that runs no projector then never receives, parses and drops the
append notices, one per command, that only projectors need (measured in scenario 5: 95% of
an API process's bus messages). `subscribe` returns once Redis has confirmed the
subscription, so a notice published after it returns is delivered, as with the pattern;
while Redis is down (or the confirmation is late) it returns anyway, as for a lost notice,
and the next (re)connect subscribes every channel wanted and sends RESYNC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
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
# Subscribed from the first connection, so the listener holds a subscribed connection before any inbox exists.
_LISTENER_CHANNEL = "orderly.bus-listener"


class RedisBus:
    """Publishes to Redis and fans Redis messages out to this process's inboxes."""

    def __init__(self, url: str, *, namespace: str = "orderly", socket_timeout: float = 1.0) -> None:
        self._url = url
        # Deployments (or test databases) sharing one Redis must not hear each other's
        # positions: every channel is prefixed with the namespace.
        self._prefix = f"{namespace}:"
        self._socket_timeout = socket_timeout
        self._client = aioredis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self._wanted: set[str] = set()  # channels some local inbox listened to
        self._confirmed: set[str] = set()  # of those, the ones Redis confirmed on the current connection
        self._confirming: dict[str, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None  # the listener's connection, once subscribed
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
        """A local inbox, ready when returned; the Redis subscription is shared by the whole process."""
        return self._subscribe(channels)

    def tap(self, receive: Callable[[Notice], None], *channels: str) -> AbstractAsyncContextManager[None]:
        """As subscribe, but `receive` is called with each notice in the listener's own call (fanout.Tap):
        the subscriber's task is not woken to read an inbox first. RESYNC comes the same way."""
        return self._tap(receive, channels)

    @asynccontextmanager
    async def _subscribe(self, channels: tuple[str, ...]) -> AsyncIterator[Subscription]:
        async with self._fanout.subscribe(*channels) as inbox:
            await self._listen_to(channels)
            yield inbox

    @asynccontextmanager
    async def _tap(self, receive: Callable[[Notice], None], channels: tuple[str, ...]) -> AsyncIterator[None]:
        async with self._fanout.tap(receive, *channels):
            await self._listen_to(channels)
            yield

    async def _listen_to(self, channels: Iterable[str]) -> None:
        channels = set(channels)
        self._wanted |= channels
        pubsub = self._pubsub
        if pubsub is None:
            return  # (re)connecting: the listener subscribes every wanted channel, then sends RESYNC
        new = channels - self._confirmed - self._confirming.keys()
        loop = asyncio.get_running_loop()
        for name in new:
            self._confirming[name] = loop.create_future()
        waiting = [self._confirming[name] for name in channels if name in self._confirming]
        try:
            if new:
                await pubsub.subscribe(*(self._prefix + name for name in new))
            async with asyncio.timeout(self._socket_timeout):
                await asyncio.gather(*map(asyncio.shield, waiting))
        except (RedisError, OSError, TimeoutError) as error:
            # As if a notice were lost: the subscriber's poll makes up for it, a reconnect resubscribes.
            logger.warning("redis subscribe to %s not confirmed: %r", sorted(channels), error)
            for name in new:
                self._settle(name)

    def subscriber_count(self) -> int:
        """Open local inboxes."""
        return self._fanout.count()

    def is_healthy(self) -> bool:
        """Whether the listener is connected to Redis now."""
        return self._healthy

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub()
            try:
                initial = set(self._wanted)
                await pubsub.subscribe(*(self._prefix + name for name in (_LISTENER_CHANNEL, *initial)))
                # From here on, a new channel is subscribed by _listen_to; those wanted meanwhile, now.
                self._pubsub = pubsub
                if late := self._wanted - initial:
                    await pubsub.subscribe(*(self._prefix + name for name in late))
                self._healthy = True
                self._connected.set()
                backoff = 0.1
                # Whatever was published while we were not subscribed is lost: tell everyone.
                self._fanout.deliver_resync()
                observe_resync("bus")
                logger.info("redis bus listening on %s", self._url)
                while True:
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT)
                    if message is None:
                        continue
                    if message["type"] == "message":
                        self._deliver(message)
                    elif message["type"] == "subscribe":
                        name = self._channel(message)
                        self._confirmed.add(name)
                        self._settle(name)
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
                self._pubsub = None
                self._confirmed.clear()
                for name in list(self._confirming):
                    self._settle(name)
                close: Callable[[], Awaitable[object]] = pubsub.aclose  # unannotated in redis-py
                with contextlib.suppress(Exception):
                    await close()

    def _settle(self, name: str) -> None:
        future = self._confirming.pop(name, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _channel(self, message: dict[str, object]) -> str:
        channel = message["channel"]
        return (channel.decode() if isinstance(channel, bytes) else str(channel)).removeprefix(self._prefix)

    def _deliver(self, message: dict[str, object]) -> None:
        self._fanout.deliver(self._channel(message), decode(message["data"]))  # type: ignore[arg-type]
