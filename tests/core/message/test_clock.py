"""The verification clock (--as-of)."""

from __future__ import annotations

from bulkauth.core.message.clock import as_of_time, parse_date
from bulkauth.core.message.headers import parse_header_block
from bulkauth.core.message.received import parse_received


def test_the_clock() -> None:
    block = parse_header_block(b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n\nx")
    hop = parse_received("from a (a [192.0.2.1]) by b; Tue, 14 Nov 2023 22:14:00 +0000")
    assert as_of_time("received", hop, block, 5.0).to_dict() == {
        "time": "2023-11-14T22:14:00Z",
        "source": "received:top",
    }
    assert as_of_time("received", None, block, 5.0).source == "date"
    assert as_of_time("received", None, parse_header_block(b"X: y\n\nx"), 5.0).time == 5.0
    assert as_of_time("now", hop, block, 5.0).source == "now"
    assert as_of_time(1_000.0, hop, block, 5.0).to_dict()["source"] == "given"
    assert parse_date("Mon, 32 Foo 99999 25:61:61 +9999") is None
    assert parse_date("14 Nov 2023 22:14:00") == 1700000040.0  # no zone: UTC


def test_the_clock_names_the_trusted_receiver_and_says_whether_it_is_trusted() -> None:
    block = parse_header_block(b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n\nx")
    hop = parse_received(
        "from a (a [192.0.2.1]) by MX1.Example.NET.; Tue, 14 Nov 2023 22:14:00 +0000"
    )
    by_trusted = as_of_time("received", hop, block, 5.0, trusted_receiver=".example.net")
    assert by_trusted.source == "received:mx1.example.net" and by_trusted.trusted
    top = as_of_time("received", hop, block, 5.0)
    assert top.source == "received:top" and top.trusted
    # a Received field without a date: the Date field, which the sender wrote
    undated = parse_received("from a (a [192.0.2.1]) by mx1.example.net")
    date = as_of_time("received", undated, block, 5.0, trusted_receiver="mx1.example.net")
    assert (date.source, date.trusted) == ("date", False)
    assert as_of_time(1_000.0, None, block, 5.0).trusted
    assert as_of_time("now", None, block, 5.0).trusted
