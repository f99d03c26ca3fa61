"""The strict Decimal and DateTime scalars: good spellings and their canonical values, bad ones refused."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from schema.scalars import MAX_DECIMAL_LENGTH, parse_datetime, parse_decimal

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0", "0"),
        ("12", "12"),
        ("12.5", "12.5"),
        ("12.50", "12.50"),  # kept as written: the read side shows "12.50"
        ("0.0001", "0.0001"),
        ("-3.25", "-3.25"),
        ("-0", "0"),
        ("-0.00", "0.00"),
        ("007.5", "7.5"),
        ("1000000000", "1000000000"),
        ("9" * MAX_DECIMAL_LENGTH, "9" * MAX_DECIMAL_LENGTH),
    ],
)
def test_a_decimal_string_parses_to_its_canonical_value(given: str, expected: str) -> None:
    parsed = parse_decimal(given)
    assert isinstance(parsed, Decimal)
    assert str(parsed) == expected


@pytest.mark.parametrize(
    "given",
    [
        "", " ", "abc", "1_000", " 12.5 ", "12.5\n", "+1", "1.", ".5", "1,5", "1.2.3", "--1", "- 1",
        "1e2", "1E+2", "1e999999999", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11\uff12",  # full-width digits
        "1\u00002",
        "9" * (MAX_DECIMAL_LENGTH + 1),
        12, 12.5, True, None, [], {},  # JSON numbers and other non-strings
    ],
    ids=repr,
)
def test_anything_else_is_not_a_decimal(given: object) -> None:
    with pytest.raises(ValueError):
        parse_decimal(given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-01-31T12:00:00Z", datetime.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31t12:00:00z", datetime.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31T12:00:00+00:00", datetime.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31T12:00:00-00:00", datetime.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31T17:30:00+05:30", datetime.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31T23:00:00-02:00", datetime.datetime(2024, 2, 1, 1, tzinfo=UTC)),
        ("2024-01-31T12:00Z", datetime.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31T12:00:00.5Z", datetime.datetime(2024, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-31T12:00:00.123456789Z", datetime.datetime(2024, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime.datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_a_date_time_with_an_offset_parses_to_utc(given: str, expected: datetime.datetime) -> None:
    parsed = parse_datetime(given)
    assert parsed == expected
    assert parsed.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize(
    "given",
    [
        "2020-01-01T00:00:00",  # no offset
        "2020-01-01",  # a date without a time
        "2020-01-01T00:00:00.000",
        "2020-01-01 00:00:00Z",
        "20200101T000000Z",
        "2020-W01-1T00:00:00Z",
        "2020-01-01T00:00:00+0000",
        "2020-01-01T00:00:00+00",
        "2020-01-01T00:00:00 +00:00",
        " 2020-01-01T00:00:00Z",
        "2020-01-01T00:00:00Z\n",
        "2023-02-29T00:00:00Z",
        "2020-13-01T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T00:00:60Z",
        "2020-01-01T00:00:00+24:00",
        "2020-01-01T00:00:00+05:60",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "\u0662\u0660\u0662\u0660-01-01T00:00:00Z",
        "now",
        "",
        1700000000, None,
    ],
    ids=repr,
)
def test_anything_else_is_not_a_date_time(given: object) -> None:
    with pytest.raises(ValueError):
        parse_datetime(given)
