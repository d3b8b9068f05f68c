"""How the namespace lab shapes a throttled link: the ``tc`` arguments for each combination of
rate, delay and loss, and how two throttles on one link combine (pure; the live qdiscs are
checked in ``test_lab_netns.py``)."""

from __future__ import annotations

import pytest

from netwatch.lab.faults_netns import Shape


@pytest.mark.parametrize(("shape", "args"), [
    (Shape(rate_kbit=256), ["tbf", "rate", "256kbit", "burst", "4096", "latency", "1s"]),
    (Shape(rate_kbit=8000), ["tbf", "rate", "8000kbit", "burst", "50000", "latency", "1s"]),
    (Shape(delay_ms=100), ["netem", "delay", "100ms"]),
    (Shape(256, 100, 5), ["netem", "delay", "100ms", "rate", "256kbit", "loss", "random", "5%"]),
    (Shape(loss_pct=2), ["netem", "loss", "random", "2%"]),
])
def test_qdisc_arguments(shape: Shape, args: list[str]) -> None:
    assert shape.qdisc() == args


def test_two_throttles_on_one_link_keep_the_harsher_of_each() -> None:
    assert Shape(256, 100).merge(Shape(128, 50, 3)) == Shape(128, 100, 3)
    assert Shape(delay_ms=10).merge(Shape(rate_kbit=64)) == Shape(64, 10, None)
