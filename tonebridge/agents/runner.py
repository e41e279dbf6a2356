"""How an agent walks its stream: acknowledge a message only after it was fully handled.

faust acknowledges an event in a ``finally`` when the ``async for`` body raises or is
cancelled, and commits the highest run of acknowledged offsets even across an unacknowledged
one. So agents use a no-ack stream and acknowledge by hand; a failed message is retried in
place while the failure is transient (handling a message again is safe: effects have
deterministic ids and the table value's marks skip what is applied), and otherwise the worker
is stopped deliberately with the message unacknowledged, so it is read again on restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

from tonebridge.agents.intake import Origin
from tonebridge.errors import TonebridgeError

log = logging.getLogger(__name__)

Handler = Callable[[Origin, Any], Awaitable[None]]
RETRY_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def origin_of(message: Any) -> Origin:
    key = message.key
    return Origin(str(message.topic), int(message.partition), int(message.offset), key)


def is_transient(error: BaseException) -> bool:
    """Whether handling the same message again may succeed."""
    if isinstance(error, TonebridgeError):
        return error.retryable
    if isinstance(error, KafkaError):
        return bool(error.retriable)
    # faust wraps producer failures in ProducerSendError (not a KafkaError)
    return type(error).__name__ == "ProducerSendError" or isinstance(error, TimeoutError)


async def handle_with_retry(handle: Handler, origin: Origin, value: Any) -> None:
    """Handle one message, retrying transient failures with growing pauses."""
    for delay in RETRY_DELAYS_S:
        try:
            await handle(origin, value)
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("retrying %s in %.1fs after %r", origin, delay, exc)
            await asyncio.sleep(delay)
    await handle(origin, value)


async def consume(app: Any, stream: Any, handle: Handler) -> None:
    """The body of every agent: handle each message, acknowledge, or stop the worker."""
    manual = stream.noack()
    async for event in manual.events():
        origin = origin_of(event.message)
        try:
            await handle_with_retry(handle, origin, event.message.value)
        except Exception as exc:  # noqa: BLE001 - any failure here must stop the worker
            await stop_worker(app, origin, exc)
            return
        await manual.ack(event)


async def stop_worker(app: Any, origin: Origin, error: BaseException) -> None:
    """Crash the app with ``origin`` unacknowledged, and wait to be cancelled."""
    log.error("stopping the worker: cannot handle %s: %r", origin, error)
    await app.crash(error)
    await asyncio.Event().wait()  # the crash cancels this task; nothing is acknowledged
