"""OPSCOM load and replay harness."""

__version__ = "0.1.0"
