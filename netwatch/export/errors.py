"""The one error type exports raise for problems a user can fix."""


class ExportError(Exception):
    """An export cannot run as asked (a missing optional dependency, a bad option); the message
    says what to do."""
