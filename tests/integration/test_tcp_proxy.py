"""The test TCP proxy does what the network-fault tests rely on: forwards, freezes without
closing, thaws, and resets every connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.tcp_proxy import tcp_proxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(100):
            writer.write(data)
            await writer.drain()
    except ConnectionResetError:
        pass  # the proxy's cut() resets this leg too
    finally:
        writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_forwards_freezes_thaws_and_cuts(echo_port: int) -> None:
    with tcp_proxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"one")
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"one"

        proxy.freeze()
        writer.write(b"two")
        await writer.drain()
        with pytest.raises(TimeoutError):  # nothing moves, nothing closes
            await asyncio.wait_for(reader.readexactly(3), 0.3)
        assert not reader.at_eof()

        proxy.thaw()
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"two"

        proxy.cut()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(10), 5)
        writer.close()
        assert proxy.connections == 1
