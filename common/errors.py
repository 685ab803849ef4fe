"""Errors that mean "the user's input is wrong": the CLI prints their one-line message and exits 2."""


class BadInput(Exception):
    """Bad input (file, option, configuration, endpoint); ``str(exc)`` names the problem and the fix."""
