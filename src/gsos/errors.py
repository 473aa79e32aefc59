"""Errors a user fixes (their message says how), kept light so any command can catch them."""


class DataError(ValueError):
    """A dataset that cannot be prepared as configured; the message says what to fix."""
