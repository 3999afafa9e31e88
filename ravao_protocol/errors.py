"""The error every side's command line shows as one line, no traceback."""


class UserError(Exception):
    """Bad input from the person at the command line (a file, a flag, a key)."""
