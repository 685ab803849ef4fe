"""The one exception type the screenplay package raises for bad input."""

from dsr.common.errors import BadInput


class ScreenplayError(BadInput, ValueError):
    """Input that cannot be read as a screenplay; the message is one line naming the problem."""
