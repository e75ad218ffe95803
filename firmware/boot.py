"""Runs first at every boot (power-on, reset, deep-sleep wake). Kept minimal on purpose:
everything the pod does starts in main.py, which can be interrupted with Ctrl-C."""
