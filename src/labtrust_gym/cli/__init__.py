"""The ``labtrust`` command."""
