"""Errors a user can fix. The CLI prints their message and exits with status 2."""


class PonderError(ValueError):
    """Bad input or environment: the message says what is wrong and what to do."""
