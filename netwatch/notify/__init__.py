"""Native notifications from the store's outbox, through Apprise (for groups without Alertmanager).

- ``settings``: the ``notifications:`` config section (destinations, group window, rate limit,
  maintenance windows). Imported by config loading, so it stays light (Apprise loads lazily).
- ``render`` / ``text``: outage events → one message in English, Russian or Kazakh.
- ``send``: delivery of one message to one Apprise destination.
- ``worker``: the ``Notifier`` thread: group, suppress, rate-limit, deliver with retries.
- ``metrics``: sent / failed / suppressed counters and the outbox backlog.

Import from the submodules; this package re-exports nothing so that loading a config does not
import Apprise.
"""
