"""Argument checks shared across the package (imports nothing from sslsec)."""

from __future__ import annotations


def positive_ints(**values: object) -> None:
    """Raise ``ValueError`` naming the first of ``values`` that is not a positive integer
    (``True`` is not one)."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive integer")
