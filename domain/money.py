"""Premiums are `Decimal`, never float: compared exactly (10, 10.0 and "10.00" are one premium)
and written as JSON strings in plain notation ("2500000.00", never "2.5E+6").

`NewPremium` is the rule for a premium a quote is given from now on; `Premium` reads any premium
ever recorded (before the rule, floats of any precision were accepted and stored).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

PREMIUM_PLACES = 2
MAX_PREMIUM = Decimal("999999999999.99")
PREMIUM_RULE = f"a positive amount of at most {PREMIUM_PLACES} decimal places, up to {MAX_PREMIUM}"
# How a new premium is written in a request, and how any premium is written in a reply.
NEW_PREMIUM_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
PREMIUM_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
_CENT = Decimal(1).scaleb(-PREMIUM_PLACES)


def from_float(value: float) -> Decimal:
    """A float (a premium written as a JSON number, as all were before they were decimals) as the
    decimal its JSON text wrote: repr gives the shortest text that reads back as the same float,
    which is what json and pydantic write, so 0.1 is 0.1, not Decimal(0.1) = 0.1000...0555."""
    return Decimal(repr(value))


def _decimal(value: Any, pattern: str = PREMIUM_PATTERN) -> Any:
    # Converted here, not by pydantic: a strict model (the HTTP request) takes no str or float.
    if isinstance(value, bool):
        raise ValueError(f"must be {PREMIUM_RULE}")
    if isinstance(value, float):
        return from_float(value)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if re.fullmatch(pattern, value) is None:
            raise ValueError(f"must be {PREMIUM_RULE}, written like 120.50 (no exponent)")
        return Decimal(value)
    return value


def as_text(value: Decimal) -> str:
    """Plain notation: no exponent, every digit kept (10.0 stays "10.0")."""
    return format(value, "f")


def _positive(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"must be {PREMIUM_RULE}")
    return value


def _new_decimal(value: Any) -> Any:
    return _decimal(value, NEW_PREMIUM_PATTERN)


def _within_rule(value: Decimal) -> Decimal:
    if value > MAX_PREMIUM or value != value.quantize(_CENT):
        raise ValueError(f"must be {PREMIUM_RULE}")
    return value.quantize(_CENT)  # one text per amount: 10, 10.0 and "10.00" are all "10.00"


_AS_STRING = PlainSerializer(as_text, return_type=str, when_used="json")
_SERIALIZED = WithJsonSchema(
    {"type": "string", "pattern": PREMIUM_PATTERN, "examples": ["120.50"]}, mode="serialization"
)
_NUMBER = {
    "type": "number",
    "exclusiveMinimum": 0,
    "deprecated": True,
    "description": "Still read, as the decimal it is written as (0.1 is 0.1): send a string.",
}

Premium = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    AfterValidator(_positive),
    _AS_STRING,
    _SERIALIZED,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": PREMIUM_PATTERN}, _NUMBER]}, mode="validation"
    ),
]
NewPremium = Annotated[
    Decimal,
    BeforeValidator(_new_decimal),
    AfterValidator(_positive),
    AfterValidator(_within_rule),
    _AS_STRING,
    _SERIALIZED,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": NEW_PREMIUM_PATTERN, "examples": ["120.50"]},
                {**_NUMBER, "maximum": float(MAX_PREMIUM)},
            ],
            "description": f"The premium: {PREMIUM_RULE}.",
        },
        mode="validation",
    ),
]
