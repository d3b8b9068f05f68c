"""The NFQUEUE delayer's netlink parsing: which kernel errors stop it and which it rides out.

The live behaviour (a delay surviving another fault's ruleset reload) is tested on a real lab in
``test_lab_netns.py``; this pins the rule on crafted kernel messages, so it holds where no
namespace lab can run."""

from __future__ import annotations

import errno
import struct

import pytest

from netwatch.lab import nfqueue_delay as nfq


def _error_answering(request: bytes, error: int) -> bytes:
    """The kernel's NLMSG_ERROR for ``request``: the (negative) error, then the request's header."""
    body = struct.pack("=i", -error) + request[: nfq._NLMSG.size]
    return nfq._NLMSG.pack(nfq._NLMSG.size + len(body), nfq.NLMSG_ERROR, 0, 0, 0) + body


def _packet(queue: int, packet_id: int) -> bytes:
    hdr = nfq._attr(nfq.NFQA_PACKET_HDR, struct.pack("!IHB", packet_id, 0x0800, 0))
    return nfq._message(nfq.NFQNL_MSG_PACKET, queue, hdr)


def _verdict(queue: int, packet_id: int) -> bytes:
    return nfq._message(nfq.NFQNL_MSG_VERDICT, queue,
                        nfq._attr(nfq.NFQA_VERDICT_HDR, struct.pack("!II", nfq.NF_ACCEPT, packet_id)))


def test_a_refused_verdict_is_ridden_out_and_later_packets_still_parse() -> None:
    # A ruleset reload flushed packet 7; its verdict fails with ENOENT, and packet 8 arrives after.
    data = _error_answering(_verdict(100, 7), errno.ENOENT) + _packet(100, 8)
    assert nfq.parse(data) == [(100, 8)]


def test_a_refused_queue_configuration_raises() -> None:
    config = nfq._message(nfq.NFQNL_MSG_CONFIG, 100, b"", nfq.NLM_F_REQUEST | nfq.NLM_F_ACK)
    with pytest.raises(OSError) as caught:
        nfq.parse(_error_answering(config, errno.EPERM))
    assert caught.value.errno == errno.EPERM


def test_acks_are_not_errors() -> None:
    config = nfq._message(nfq.NFQNL_MSG_CONFIG, 100, b"", nfq.NLM_F_REQUEST | nfq.NLM_F_ACK)
    assert nfq.parse(_error_answering(config, 0) + _packet(200, 1)) == [(200, 1)]
