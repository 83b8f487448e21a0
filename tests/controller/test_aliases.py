"""Every alias of every field is read, and the first alias present wins.

For each (endpoint, field, alias) of the catalogue: a valid value under that alias
alone succeeds, and a value of the wrong type under it alone is refused with the
field's code, which shows the server reads that key (an ignored key would pass).
"""

from __future__ import annotations

import pytest
from support.api import Api
from support.values import as_sent, valid_body, valid_values, with_field

from harness.opscom.endpoints import ENDPOINT_LIST, ENDPOINTS

ALIASES = [(ep.name, f.name, alias) for ep in ENDPOINT_LIST for f in ep.fields for alias in f.aliases]
MULTI = [(ep.name, f.name) for ep in ENDPOINT_LIST for f in ep.fields if len(f.aliases) > 1]


def test_the_catalogue_has_aliases_to_test() -> None:
    assert len(ALIASES) > 60 and len(MULTI) >= 15


@pytest.mark.parametrize(("endpoint", "name", "alias"), ALIASES, ids=lambda v: str(v))
def test_a_valid_value_under_each_alias_is_accepted(api: Api, endpoint: str, name: str, alias: str) -> None:
    f = ENDPOINTS[endpoint].field(name)
    values = valid_values(api, endpoint)
    body = with_field(api.body(endpoint, values), f, alias, as_sent(f, alias, values[name]))
    reply = api.post(api.path(endpoint), body)
    assert reply.status == 200 and reply.code == 0, reply.raw[:300]


@pytest.mark.parametrize(("endpoint", "name", "alias"), ALIASES, ids=lambda v: str(v))
def test_a_wrong_value_under_each_alias_is_read(api: Api, endpoint: str, name: str, alias: str) -> None:
    f = ENDPOINTS[endpoint].field(name)
    body = with_field(valid_body(api, endpoint), f, alias, [1])
    reply = api.post(api.path(endpoint), body)
    assert reply.code == f.invalid_code, reply.raw[:300]


@pytest.mark.parametrize(("endpoint", "name"), MULTI, ids=lambda v: str(v))
def test_the_first_alias_present_wins(api: Api, endpoint: str, name: str) -> None:
    f = ENDPOINTS[endpoint].field(name)
    values = valid_values(api, endpoint)
    good = as_sent(f, f.aliases[0], values[name])
    # The first alias valid, every later one broken: accepted.
    body = with_field(api.body(endpoint, values), f, f.aliases[0], good)
    for later in f.aliases[1:]:
        body[later] = [1]
    reply = api.post(api.path(endpoint), body)
    assert reply.code == 0, reply.raw[:300]
    # The first alias broken, the later ones valid: refused.
    values = valid_values(api, endpoint)
    body = with_field(api.body(endpoint, values), f, f.aliases[0], [1])
    for later in f.aliases[1:]:
        body[later] = as_sent(f, later, values[name])
    assert api.post(api.path(endpoint), body).code == f.invalid_code
