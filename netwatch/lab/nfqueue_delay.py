"""Packet delay without ``tc netem``: an NFQUEUE listener that holds each packet, then accepts it.

Kernels on the lab's machines lack netem, so delay is added in userspace: nftables rules send a
network's packets to queue number ``N`` (``queue num N bypass``), and this process, bound to that
queue, issues the ACCEPT verdict ``N`` milliseconds after the packet arrived. The queue number is the
delay, so one process serves every delay a scenario asks for. ``bypass`` lets packets through
undelayed if this process is gone, so a crashed delayer never turns a slow network into a dead one.

Speaks raw netfilter netlink (no libnetfilter_queue binding needed). Run inside the namespace whose
rules queue packets: ``ip netns exec <ns> python -m netwatch.lab.nfqueue_delay``; stdin takes JSON
lines ``{"queues": [200, 500]}`` (bind these queues too) and end of stdin stops it.
"""

from __future__ import annotations

import heapq
import json
import os
import selectors
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
_NLMSG = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")


def _attr(kind: int, payload: bytes) -> bytes:
    length = _NLA.size + len(payload)
    return _NLA.pack(length, kind) + payload + b"\0" * (-length % 4)


def _message(msg: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return _NLMSG.pack(_NLMSG.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, 0, 0) + body


def bind_queue(sock: socket.socket, queue: int) -> None:
    """Bind ``queue`` and ask for 64 bytes of each packet (only its id is needed)."""
    cmd = _attr(NFQA_CFG_CMD, struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET)))
    sock.send(_message(NFQNL_MSG_CONFIG, queue, cmd, NLM_F_REQUEST | NLM_F_ACK))
    params = _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 64, NFQNL_COPY_PACKET))
    sock.send(_message(NFQNL_MSG_CONFIG, queue, params, NLM_F_REQUEST | NLM_F_ACK))


def verdict(sock: socket.socket, queue: int, packet_id: int) -> None:
    hdr = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
    sock.send(_message(NFQNL_MSG_VERDICT, queue, hdr))


def parse(data: bytes) -> list[tuple[int, int]]:
    """``(queue, packet id)`` of every queued packet in one netlink read.

    A refused queue configuration raises. A refused verdict is ignored: the kernel drops every
    packet queued in a namespace whenever a netfilter hook there is unregistered (a ruleset
    reloaded), and the verdict for such a packet fails with ENOENT; the packet is gone either way
    and the delayer must go on serving the others."""
    packets = []
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
        if length < _NLMSG.size:
            break
        if kind == NLMSG_ERROR:
            # Payload: the error, then the header of the message it answers.
            (error,) = struct.unpack_from("=i", data, offset + _NLMSG.size)
            answered = offset + _NLMSG.size + 4
            whole = answered + _NLMSG.size <= offset + length
            refused = _NLMSG.unpack_from(data, answered)[1] if whole else None
            if error != 0 and refused == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG:
                raise OSError(-error, f"nfqueue config refused: {os.strerror(-error)}")
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            queue = socket.ntohs(struct.unpack_from("=H", data, offset + _NLMSG.size + 2)[0])
            attr = offset + _NLMSG.size + 4
            while attr + _NLA.size <= offset + length:
                alen, akind = _NLA.unpack_from(data, attr)
                if alen < _NLA.size:
                    break
                if akind & 0x7FFF == NFQA_PACKET_HDR:
                    packets.append((queue, struct.unpack_from("!I", data, attr + _NLA.size)[0]))
                attr += alen + (-alen % 4)
        offset += length + (-length % 4)
    return packets


def main() -> int:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "netlink")
    selector.register(sys.stdin, selectors.EVENT_READ, "control")
    due: list[tuple[float, int, int]] = []  # (release time, queue, packet id)
    bound: set[int] = set()
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
        for key, _ in selector.select(timeout):
            if key.data == "control":
                line = sys.stdin.readline()
                if not line:
                    return 0
                for queue in json.loads(line).get("queues", []):
                    if queue not in bound:
                        bind_queue(sock, int(queue))
                        bound.add(int(queue))
                sys.stdout.write('{"ok": true}\n')
                sys.stdout.flush()
                continue
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                continue  # ENOBUFS: the kernel dropped some messages; their packets fail open (bypass)
            now = time.monotonic()
            for queue, packet_id in parse(data):
                heapq.heappush(due, (now + queue / 1000.0, queue, packet_id))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, queue, packet_id = heapq.heappop(due)
            verdict(sock, queue, packet_id)


if __name__ == "__main__":
    sys.exit(main())
