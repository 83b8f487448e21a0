"""The OPSCOM API as code: endpoint catalogue, error catalogue, classify(), builders."""

from harness.opscom.builders import Ref, build_body, encode_body, format_datetime
from harness.opscom.endpoints import (
    ENDPOINT_LIST,
    ENDPOINT_NAMES,
    ENDPOINTS,
    PERMISSIONS,
    Endpoint,
    Field,
    Kind,
    Presence,
    Rule,
    Service,
)
from harness.opscom.errors import AUTH_CODES, ERROR_MESSAGES, http_status_for, message_for
from harness.opscom.outcome import (
    CONNECT_ERROR,
    DISCONNECTED,
    OK,
    TIMEOUT,
    UNDECODABLE,
    Outcome,
    OutcomeKind,
    api_error,
    classify,
    decode_and_classify,
    http_error,
    outcome_for_key,
)

__all__ = [
    "AUTH_CODES", "CONNECT_ERROR", "DISCONNECTED", "ENDPOINTS", "ENDPOINT_LIST",
    "ENDPOINT_NAMES", "ERROR_MESSAGES", "OK", "PERMISSIONS", "TIMEOUT", "UNDECODABLE",
    "Endpoint", "Field", "Kind", "Outcome", "OutcomeKind", "Presence", "Ref", "Rule",
    "Service", "api_error", "build_body", "classify", "decode_and_classify", "encode_body",
    "format_datetime", "http_error", "http_status_for", "message_for", "outcome_for_key",
]
