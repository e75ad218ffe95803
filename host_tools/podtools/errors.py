"""The one exception a user's situation raises; ``pod`` prints it as ``pod: message``."""

import contextlib


class PodError(Exception):
    """A user-facing error: bad input, no pod, unknown session... (never a bug)."""


@contextlib.contextmanager
def writing(path):
    """An OSError while writing ``path`` becomes ``cannot write PATH (reason)``."""
    try:
        yield
    except OSError as e:
        raise PodError("cannot write %s (%s)" % (path, e.strerror or e)) from None
