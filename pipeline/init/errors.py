"""The one error `tfx-prod init` raises for bad input: it says what to do."""


class InitError(ValueError):
    """Bad input or a refusal; the message names the fix. Exit code 2."""
