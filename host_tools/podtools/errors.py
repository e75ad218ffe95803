"""The one exception a user's situation raises; ``pod`` prints it as ``pod: message``."""


class PodError(Exception):
    """A user-facing error: bad input, no pod, unknown session... (never a bug)."""
