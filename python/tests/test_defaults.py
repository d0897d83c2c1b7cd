"""The defaults table (testdata/defaults.json), which every language's tests check: the Python
API's keyword defaults, its Config and its behaviour are the table's."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import didcomm_edge as de

TABLE: dict[str, Any] = json.loads((Path(__file__).parents[2] / "testdata" / "defaults.json").read_text())


def engine() -> de.DidComm:
    return de.DidComm(de.ResolverChain(), de.InMemorySecretsStore())


def test_unpack_keywords_default_to_the_table() -> None:
    for method in (de.DidComm.unpack, de.DidComm.unpack_blocking):
        parameters = inspect.signature(method).parameters
        for name, value in TABLE["unpack"].items():
            assert parameters[name].default == value, f"{method.__name__}({name}=...)"


def test_config_defaults_to_the_table() -> None:
    # What an engine built without a Config uses, and what Config() asks for.
    effective = engine().config
    built = de.Config()
    seen = 0
    for name, value in TABLE["config"].items():
        if not hasattr(effective, name):
            continue
        seen += 1
        assert getattr(effective, name) == value, name
        constructed = getattr(built, name)
        if name.endswith("_ttl_seconds"):
            assert constructed in (value, None), name  # unset: the default time to live
        else:
            assert constructed == value, name
    assert seen >= 5


def test_bodyless_and_expired_plaintexts_behave_as_the_table_says() -> None:
    dc = engine()
    try:
        dc.unpack_blocking('{"id":"1","type":"https://example.com/t"}')
        bodyless = "accepted"
    except de.DidCommError:
        bodyless = "refused"
    assert bodyless == TABLE["behaviour"]["plaintext_without_body"]
    try:
        result = dc.unpack_blocking('{"id":"2","type":"https://example.com/t","body":{},"expires_time":1}')
        expired = "reported" if result.metadata.expired else "ignored"
    except de.DidCommError:
        expired = "refused"
    assert expired == TABLE["behaviour"]["expired_message"]
