"""sslsec: runnable security and privacy problems of self-supervised learning."""

__version__ = "0.1.0"
