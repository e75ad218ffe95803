"""The one exception a user's situation raises; ``pod`` prints it as ``pod: message``."""

import contextlib
import os


class PodError(Exception):
    """A user-facing error: bad input, no pod, unknown session... (never a bug)."""


@contextlib.contextmanager
def writing(path):
    """An OSError while writing ``path`` becomes ``cannot write PATH (reason)``, naming the
    path the system refused when it is another one (a folder on the way, say)."""
    try:
        yield
    except OSError as e:
        reason = e.strerror or str(e)
        if e.filename is not None and str(e.filename) != str(path):
            reason = "%s: %s" % (e.filename, reason)
        raise PodError("cannot write %s (%s)" % (path, reason)) from None


def not_over(out, keep, what):
    """Refuse to write ``out`` when it is the file ``keep`` (``what`` names it): an output
    path mistyped as an input must not destroy the input."""
    try:
        same = os.path.samefile(out, keep)
    except OSError:  # either one missing (or unreadable): not the same file
        return
    if same:
        raise PodError("%s is %s: it would be overwritten; write somewhere else" % (out, what))


def replaceable(out, what, looks_like):
    """Refuse to write over ``out`` unless it is missing, empty or already ``what`` (an
    earlier output of the same kind, as ``looks_like(first 4 KB)`` tells): a mistyped output
    path must not destroy a recording, a session database or anyone else's file."""
    try:
        with open(out, "rb") as f:
            head = f.read(4096)
    except OSError:  # missing, a folder, unreadable: writing it says what is wrong
        return
    if head and not looks_like(head):
        raise PodError("%s exists and is not %s: not overwritten (remove it or write somewhere else)"
                       % (out, what))
