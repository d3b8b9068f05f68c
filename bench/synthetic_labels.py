"""Label values the synthetic benchmarks give their targets (``agent_run.py``, ``store_write.py``):
the category vocabulary of the Kazakhstan catalog and a few more, cycled over the targets."""

CATEGORIES = (
    "government",
    "bank",
    "news",
    "telecom",
    "dns-infra",
    "messaging",
    "social",
    "search",
    "video",
    "shopping",
    "education",
    "health",
)
