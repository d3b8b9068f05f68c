"""The outage detector: pure and deterministic, measurements and a clock in, events out.

Public API: ``Detector`` (``observe``, ``advance``, ``active_outages``, ``reachability``),
``Thresholds``, the ``Event`` union (``Transition`` | ``OutageEvent``) and ``GroupReachability``.
"""

from netwatch.detect.detector import Detector, Event, GroupReachability
from netwatch.detect.thresholds import Thresholds

__all__ = ["Detector", "Event", "GroupReachability", "Thresholds"]
