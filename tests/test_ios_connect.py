"""ios_connect: releasing a held connection keeps cancellation (issue 15)."""

from __future__ import annotations

import asyncio
from unittest.mock import MagicMock

import pytest

from harness.data.inventory import DeviceRecord
from harness.device.backends.ios_connect import Connections, Held, _ended
from harness.device.backends.ios_errors import Where


def connections() -> Connections:
    record = DeviceRecord(name="p", backend="ios", udid="U")
    return Connections(record, Where("p", "U", None, None, None), MagicMock(), lambda _: None)


def test_cancelling_a_release_cancels_it():
    """The old `suppress(BaseException)` swallowed the CancelledError of the caller itself, so
    a cancelled close went on as if nothing happened."""

    async def main() -> str:
        never = asyncio.get_running_loop().create_future()  # a forward that never stops
        provider = MagicMock()
        provider.close = MagicMock(side_effect=lambda: asyncio.sleep(0))
        held = Held(provider, MagicMock(), task=never)
        release = asyncio.ensure_future(connections().release(held))
        await asyncio.sleep(0.05)
        release.cancel()
        try:
            await release
        except asyncio.CancelledError:
            return "cancelled"
        return "swallowed"

    assert asyncio.run(main()) == "cancelled"


def test_a_forward_that_failed_or_was_cancelled_is_released_quietly():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        failed, cancelled = loop.create_future(), loop.create_future()
        failed.set_exception(OSError("the forward died"))
        cancelled.cancel()
        await _ended(failed, 1.0)
        await _ended(cancelled, 1.0)

    asyncio.run(main())


def test_keyboard_interrupt_goes_on():
    async def main() -> None:
        broken = asyncio.get_running_loop().create_future()
        broken.set_exception(KeyboardInterrupt())
        await _ended(broken, 1.0)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
