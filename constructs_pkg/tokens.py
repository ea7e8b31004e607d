"""Whether a value is a CDK token, asking the jsii kernel only when it can be one.

``Token.is_unresolved`` is a round trip to the node process. A string token always holds
``${Token[`` (list tokens ``#{Token[``) and a number token is a float, so a plain string without
those markers, or an int, is known without asking.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Token

_MARKERS = ("${Token[", "#{Token[")


def is_token(value: Any) -> bool:
    """Whether ``value`` (a string or number) resolves only at deploy time."""
    if isinstance(value, str):
        return any(marker in value for marker in _MARKERS) and Token.is_unresolved(value)
    if isinstance(value, float):
        return Token.is_unresolved(value)
    return False
