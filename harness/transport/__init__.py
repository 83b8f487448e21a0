"""Transports: how a call reaches the target. See ``base`` for the interface."""

from __future__ import annotations

from harness.transport.base import Origin, Slot, Transport, TransportConfig

TRANSPORT_NAMES: tuple[str, ...] = ("fast", "aiohttp")


def make_transport(name: str, config: TransportConfig) -> Transport:
    if name == "fast":
        from harness.transport.fast import FastTransport

        return FastTransport(config)
    if name == "aiohttp":
        from harness.transport.aiohttp_pool import AiohttpTransport

        return AiohttpTransport(config)
    raise ValueError(f"unknown transport {name!r}: expected one of {', '.join(TRANSPORT_NAMES)}")


__all__ = ["TRANSPORT_NAMES", "Origin", "Slot", "Transport", "TransportConfig", "make_transport"]
