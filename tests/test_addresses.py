"""Addresses of shared servers are shown without their secrets, whatever form they take (issue 27, class 1)."""

from __future__ import annotations

import pytest

from dsr.common.addresses import AddressError, parse, redact

SECRET = "s3cr"  # each case's password contains this; no redacted form may


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("postgresql://dsr:s3cr-et@db:5432/dsr", "postgresql://dsr:***@db:5432/dsr"),
        (
            "postgresql://dsr:s3cr#et@db:5432/dsr",
            "postgresql://dsr:***@db:5432/dsr",
        ),  # '#' is no fragment to libpq
        ("postgresql://dsr:s3cr?et@db/dsr", "postgresql://dsr:***@db/dsr"),  # nor '?' a query before the '@'
        (
            "postgres://dsr@db/dsr?password=s3cret&sslmode=require",
            "postgres://dsr:***@db/dsr?password=***&sslmode=require",
        ),
        ("postgresql://dsr@db/dsr?password=s3cr@et", "postgresql://dsr:***@db/dsr?password=***"),
        ("postgresql://dsr:s3cr%2Fet@[::1]:5433/dsr", "postgresql://dsr:***@[::1]:5433/dsr"),
        (
            "postgresql://dsr:pw@h1:5432,h2:5433/dsr?options=-c%20s3cr",
            "postgresql://dsr:***@h1:5432,h2:5433/dsr?options=***",
        ),
        (
            "host=db port=5432 dbname=dsr user=dsr password=s3cret",
            "host=db port=5432 dbname=dsr user=dsr password=***",
        ),
        ("host=db password='s3cr et\\'x' dbname=dsr", "host=db password=*** dbname=dsr"),
        ("http://admin:s3cret@chroma:8000", "http://admin:***@chroma:8000"),
        ("postgresql://db/dsr", "postgresql://db/dsr"),
    ],
)
def test_the_password_is_gone_and_the_rest_is_kept(address, shown):
    assert redact(address) == shown
    assert SECRET not in redact(address)


@pytest.mark.parametrize(
    "address",
    [
        "postgresql://dsr:s3cr/et@db/dsr",  # libpq reads 'dsr:s3cr' as the host: no such address
        "postgresql://dsr:pw@[::1:1/dsr",  # an IPv6 host without its closing bracket
        "postgresql://dsr:pw@db:99999/dsr",
        "host=db password='s3cret",  # an unclosed quote
        "just s3cret words",
    ],
)
def test_what_does_not_parse_is_a_placeholder_never_the_text(address):
    shown = redact(address)
    assert shown.startswith("<") and "address not shown" in shown and SECRET not in shown
    with pytest.raises(AddressError) as info:
        parse(address)
    assert SECRET not in str(info.value)


def test_parsed_parts_identify_the_database():
    one = parse("postgresql://dsr:pw@[::1]:5433/story?sslmode=require")
    assert (one.user, one.password, one.hosts, one.path) == ("dsr", "pw", [("::1", 5433)], "story")
    kv = parse("host=db port=5433 dbname=story user=dsr")
    assert (kv.user, kv.hosts, kv.path) == ("dsr", [("db", 5433)], "story")
