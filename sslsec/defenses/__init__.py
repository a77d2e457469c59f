"""Defences: one module per method, each returning a result dataclass with its metrics."""
