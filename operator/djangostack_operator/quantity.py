"""Kubernetes resource quantities, read and written the way the API server does.

The API server stores every quantity in canonical form (`0.1` becomes `100m`, `1024Mi`
becomes `1Gi`, `1.5Gi` becomes `1536Mi`). The renderer writes canonical quantities, so the
objects it desires are equal to what the API server keeps and an idle stack is never
rewritten; the models use `parse` to compare requests with limits.

This follows apimachinery's `resource.Quantity` (ParseQuantity and CanonicalizeBytes) and
the defaulting of every v1 ResourceList (container resources, claim sizes): the value rounds
up to whole milli units, a binary quantity is written with the largest power of 1024 that
divides it (or as decimal when it is below 1024 or not a whole number), a decimal one with
its exponent lowered to a multiple of three and the SI suffix of that exponent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, localcontext
from typing import Literal

# apimachinery's grammar without a sign (no quantity of the API may be negative) and without
# a trailing dot (the API server keeps `1.` as written instead of in canonical form).
GRAMMAR = r"^(([0-9]+(\.[0-9]+)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]{1,3}))?$"
# The largest value the API server keeps exactly for every resource (an int64 of base units).
MAX = Decimal(2**63 - 1)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {exponent: suffix for suffix, exponent in _BINARY.items()} | {0: ""}
_PARTS = re.compile(r"^([0-9.]+)(.*)$")
_MILLI = Decimal("1e-3")
Format = Literal["BinarySI", "DecimalSI", "DecimalExponent"]


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: Format


def parse(text: str) -> Quantity:
    """The quantity `text` denotes; ValueError when it is not one or is beyond MAX."""
    if not re.match(GRAMMAR, text):
        raise ValueError(f"{text!r} is not a quantity (e.g. 250m, 1.5, 256Mi, 10Gi)")
    parts = _PARTS.match(text)
    assert parts is not None
    number, suffix = parts.groups()
    with localcontext() as context:
        context.prec = 80
        amount = Decimal(number)
        format: Format
        if suffix in _BINARY:
            amount *= Decimal(2) ** _BINARY[suffix]
            format = "BinarySI"
        elif suffix in _DECIMAL:
            amount = amount.scaleb(_DECIMAL[suffix])
            format = "DecimalSI"
        else:
            amount = amount.scaleb(int(suffix[1:]))
            format = "DecimalExponent"
        if amount > MAX:
            raise ValueError(f"{text!r} is too large (at most {MAX} base units)")
        if amount != 0:
            # Any non-zero value gets at least one milli unit: the API server rounds every
            # ResourceList value up to milli ("if you want some, you get some").
            amount = amount.quantize(_MILLI, rounding=ROUND_UP)
        if format == "BinarySI" and 0 < amount < 1:
            format = "DecimalSI"
    return Quantity(amount, format)


def canonical(text: str) -> str:
    """`text` as the API server writes it back."""
    quantity = parse(text)
    value = quantity.value
    if value == 0:
        return "0"
    format = quantity.format
    if format == "BinarySI" and (value < 1024 or value != value.to_integral_value()):
        format = "DecimalSI"
    if format == "BinarySI":
        mantissa, exponent = int(value), 0
        while mantissa % 1024 == 0:
            mantissa //= 1024
            exponent += 10
        return f"{mantissa}{_BINARY_SUFFIX[exponent]}"
    _, digits, places = value.normalize().as_tuple()
    assert isinstance(places, int)  # a finite value
    exponent = places
    mantissa = int("".join(map(str, digits)))
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if format == "DecimalExponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def is_quantity(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
