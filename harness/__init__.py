"""OPSCOM load and replay harness."""

__version__ = "0.2.0"
