"""Errors that reach a person at the command line as one line, no traceback."""


class UserError(Exception):
    """Bad input from the person at the command line (a file, a flag, a key)."""
