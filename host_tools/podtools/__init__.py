"""Laptop side of the running-form pod. The console command is ``pod`` (see podtools.cli)."""

__version__ = "0.1.0"
