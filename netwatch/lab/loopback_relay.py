"""The loopback lab's "network": public listeners that relay to the real servers and act out faults.

Every public endpoint (one per vantage and lab endpoint, on its own 127.x address) is a TCP
listener, plus a UDP socket on the same port for DNS. A ``Policy`` tells, per route, the current
``PathState`` and the upstream server to relay to; the relay acts it out:

- unreachable: the listener stops accepting and its accept queue is filled (``listen(0)`` plus a
  filler connection), so the kernel drops new SYNs and clients see ``connect`` time out, exactly
  as behind a silent drop; established connections freeze (data is held, as if every segment
  were lost, and flows again when the path comes back, as retransmissions would); datagrams are
  dropped;
- ``delay_s``: each chunk is delivered ``delay_s`` after it arrived, in each direction (a delay
  line, so throughput is not capped by the delay);
- ``loss``: a TCP chunk is "lost" with that probability and arrives one retransmission timeout
  later; a datagram is dropped;
- ``rate_kbit``: chunks are paced through a token bucket shared by every path into the network;
- upstream: chosen once per connection, like a NAT mapping.

One thread runs one asyncio loop for every listener and connection. ``refresh()`` (any thread)
re-reads the policy for every listener and returns once pauses and resumes are in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, cast

from netwatch.lab.loopback_paths import PathState

Upstream = tuple[str, int]
Policy = Callable[[Hashable], tuple[PathState, Upstream]]

RETRANSMIT_S = 0.3  # a lost segment arrives this much later (Linux's minimum RTO is 0.2 s)
_CHUNK = 16384
_UDP_WAIT_S = 10.0  # how long a relayed query waits for its answer
_LINGER_RST = struct.pack("ii", 1, 0)


class _Listener:
    def __init__(self, route: Hashable, sock: socket.socket) -> None:
        self.route = route
        self.sock = sock
        self.address: tuple[str, int] = sock.getsockname()
        self.paused = False
        self.filler: socket.socket | None = None


class Relay:
    """Start with ``start()``; add listeners with ``listen``; ``close()`` stops everything."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-relay", daemon=True)
        self._listeners: list[_Listener] = []
        self._udp: list[asyncio.DatagramTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._buckets: dict[tuple[str, str], float] = {}  # (network, direction) -> next free time

    def start(self) -> Relay:
        self._thread.start()
        return self

    def listen(self, route: Hashable, address: str, port: int = 0, *, udp: bool = False) -> int:
        """Listen for ``route`` on ``address``:``port`` (TCP, and UDP on the same port when ``udp``);
        ``port`` 0 picks a free one. Returns the port; ``OSError`` when it is taken."""
        result: int = self._call(self._listen(route, address, port, udp))
        return result

    def refresh(self) -> None:
        """Re-read the policy: pause or resume listeners, wake frozen connections."""
        self._call(self._refresh())

    def close(self) -> None:
        """Close every listener and connection, stop the loop and join its thread. Idempotent."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10.0)

    # -- listeners (loop thread) ------------------------------------------------------------------

    async def _listen(self, route: Hashable, address: str, port: int, udp: bool) -> int:
        for _ in range(50 if port == 0 else 1):  # with port 0, UDP may hold TCP's pick: try again
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((address, port))
                chosen: int = tcp.getsockname()[1]
                if udp:
                    transport, _ = await self._loop.create_datagram_endpoint(
                        lambda: _Public(self, route), local_addr=(address, chosen))
                    self._udp.append(transport)
            except OSError:
                tcp.close()
                if port:
                    raise
                continue
            tcp.listen(128)
            tcp.setblocking(False)
            listener = _Listener(route, tcp)
            self._listeners.append(listener)
            self._loop.add_reader(tcp, self._accept, listener)
            await self._apply(listener)
            return chosen
        raise OSError(f"no port free for both UDP and TCP on {address}")

    async def _refresh(self) -> None:
        for listener in self._listeners:
            await self._apply(listener)
        self._changed.set()
        self._changed = asyncio.Event()

    async def _apply(self, listener: _Listener) -> None:
        state, _ = self._policy(listener.route)
        if not state.reachable and not listener.paused:
            listener.paused = True
            self._loop.remove_reader(listener.sock)
            listener.sock.listen(0)  # an accept queue of one: the filler fills it, new SYNs are dropped
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                await asyncio.wait_for(self._loop.sock_connect(filler, listener.address), 0.2)
                listener.filler = filler
            except (OSError, TimeoutError):
                filler.close()  # the queue was full already
        elif state.reachable and listener.paused:
            listener.paused = False
            filler_name = listener.filler.getsockname() if listener.filler else None
            self._accept(listener, skip=filler_name)
            if listener.filler is not None:
                listener.filler.close()
                listener.filler = None
            listener.sock.listen(128)
            self._loop.add_reader(listener.sock, self._accept, listener)

    def _accept(self, listener: _Listener, skip: tuple[str, int] | None = None) -> None:
        while True:
            try:
                sock, peer = listener.sock.accept()
            except OSError:  # nothing left to accept (or the client gave up meanwhile)
                return
            if peer == skip:
                sock.close()
                continue
            self._spawn(self._serve(listener.route, sock))

    def _spawn(self, coroutine: Any) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        for listener in self._listeners:
            if not listener.paused:
                self._loop.remove_reader(listener.sock)
            listener.sock.close()
            if listener.filler is not None:
                listener.filler.close()
        self._listeners.clear()
        for transport in self._udp:
            transport.close()
        self._udp.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- TCP connections (loop thread) -------------------------------------------------------------

    async def _serve(self, route: Hashable, client: socket.socket) -> None:
        client.setblocking(False)
        _, upstream = self._policy(route)
        writers: list[asyncio.StreamWriter] = []
        reset = False
        try:
            c_reader, c_writer = await asyncio.open_connection(sock=client)
            writers.append(c_writer)
            u_reader, u_writer = await asyncio.open_connection(*upstream)
            writers.append(u_writer)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pipe(route, c_reader, u_writer, "up"))
                group.create_task(self._pipe(route, u_reader, c_writer, "down"))
        except* ConnectionResetError:
            reset = True  # pass the reset on, to whichever side is still there
        except* OSError:
            pass
        finally:
            for writer in writers:
                sock = writer.get_extra_info("socket")
                if reset and sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                writer.transport.abort()
            client.close()

    async def _pipe(self, route: Hashable, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    direction: str) -> None:
        """Copy ``reader`` to ``writer`` through the path's delay line. EOF is passed on; a read
        error (a reset) is raised once it has come through the path, as the RST segment would."""
        queue: asyncio.Queue[tuple[float, bytes, OSError | None]] = asyncio.Queue(maxsize=64)

        async def feed() -> None:
            while True:
                try:
                    data = await reader.read(_CHUNK)
                except OSError as exc:
                    await queue.put((time.monotonic(), b"", exc))
                    return
                await queue.put((time.monotonic(), data, None))
                if not data:
                    return

        feeder = self._loop.create_task(feed())
        try:
            while True:
                arrived, data, error = await queue.get()
                await self._transit(route, arrived, len(data), direction)
                if error is not None:
                    raise error
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder

    async def _transit(self, route: Hashable, arrived: float, size: int, direction: str) -> None:
        """Wait until a chunk that arrived at ``arrived`` would come out of the path."""
        state, _ = self._policy(route)
        if state.loss and random.random() < state.loss:
            arrived += RETRANSMIT_S
        while True:
            state, _ = self._policy(route)
            if not state.reachable:
                await self._changed.wait()
                arrived = max(arrived, time.monotonic())
                continue
            wait = arrived + state.delay_s - time.monotonic()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if state.rate_kbit is not None and size:
            key = (state.rate_network, direction)
            start = max(time.monotonic(), self._buckets.get(key, 0.0))
            self._buckets[key] = done = start + size * 8 / (state.rate_kbit * 1000)
            await asyncio.sleep(done - time.monotonic())

    # -- UDP (loop thread) --------------------------------------------------------------------------

    def datagram(self, public: asyncio.DatagramTransport, route: Hashable, data: bytes, client: Any) -> None:
        state, upstream = self._policy(route)
        if not state.reachable or (state.loss and random.random() < state.loss):
            return
        self._spawn(self._forward(public, route, data, client, upstream))

    async def _forward(self, public: asyncio.DatagramTransport, route: Hashable, data: bytes, client: Any,
                       upstream: Upstream) -> None:
        await asyncio.sleep(self._policy(route)[0].delay_s)
        answered: asyncio.Future[bytes] = self._loop.create_future()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Upstream(answered), remote_addr=upstream)
        try:
            transport.sendto(data)
            reply = await asyncio.wait_for(answered, _UDP_WAIT_S)
        except TimeoutError:
            return
        finally:
            transport.close()
        state, _ = self._policy(route)  # the way back
        if not state.reachable or (state.loss and random.random() < state.loss):
            return
        await asyncio.sleep(state.delay_s)
        if not public.is_closing():
            public.sendto(reply, client)


class _Public(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay, route: Hashable) -> None:
        self.relay = relay
        self.route = route
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is not None:
            self.relay.datagram(self.transport, self.route, data, addr)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, answered: asyncio.Future[bytes]) -> None:
        self.answered = answered

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.answered.done():
            self.answered.set_result(data)
