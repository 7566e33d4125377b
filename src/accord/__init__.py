"""Accord: a governed hub for sharing personal data between public bodies."""

__version__ = "0.1.0"
