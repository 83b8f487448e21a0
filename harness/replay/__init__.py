"""Replay a recording against a target, on the same engine, metrics, checks and
reports as ``harness run``: ``replay_plan`` makes an ordinary ``Plan`` of it.

Modules: ``schedule`` (options, the recording's pacer, sharding by chain),
``source`` (recorded calls as calls: tokens, client, copies, correlation, the
behaviour diff), ``variants`` (copies that do not collide), ``diff``
(summary.json's ``diff`` section), ``plan`` (flags -> Plan), ``verb`` (``harness
replay``).
"""
