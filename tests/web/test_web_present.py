"""How values read on the pages: durations, dates and times in GOV.UK style, empty values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from markupsafe import Markup

from accord.web import present


@pytest.mark.parametrize(
    ("iso", "words"),
    [
        ("P6M", "6 months"),
        ("P1Y", "1 year"),
        ("P2Y6M", "2 years, 6 months"),
        ("P1W", "1 week"),
        ("P30D", "30 days"),
        ("PT5H", "PT5H"),  # not a calendar period: shown as written
        ("P", "P"),
        ("", ""),
    ],
)
def test_durations_read_in_words(iso: str, words: str) -> None:
    assert present.duration(iso) == words


def test_dates_have_no_leading_zero_and_the_month_in_words() -> None:
    assert present.long_date(date(2026, 4, 1)) == "1 April 2026"
    assert present.long_date("2027-03-31") == "31 March 2027"
    assert present.long_date(None) == ""


@pytest.mark.skipif(present.UK_TIME is None, reason="no time zone database on this machine")
@pytest.mark.parametrize(
    ("moment", "words"),
    [
        (datetime(2027, 1, 17, 12, 0, tzinfo=UTC), "midday on 17 January 2027"),  # GMT = UTC in winter
        (datetime(2027, 1, 17, 0, 0, tzinfo=UTC), "midnight on 17 January 2027"),
        (datetime(2027, 1, 17, 17, 24, tzinfo=UTC), "5:24pm on 17 January 2027"),
        (datetime(2027, 7, 1, 8, 0, tzinfo=UTC), "9am on 1 July 2027"),  # British Summer Time
        (datetime(2027, 7, 1, 23, 30, tzinfo=UTC), "12:30am on 2 July 2027"),
    ],
)
def test_times_are_uk_time_in_gov_uk_style(moment: datetime, words: str) -> None:
    assert present.long_datetime(moment) == words
    assert present.long_datetime(moment.isoformat()) == words


def test_values_are_escaped_listed_or_marked_empty() -> None:
    assert present.value_html("<b>") == Markup("&lt;b&gt;")
    bullets = '<ul class="govuk-list govuk-list--bullet"><li>a&lt;</li><li>b</li></ul>'
    assert present.value_html(["a<", "b"]) == Markup(bullets)
    assert present.value_html(["only"]) == Markup("only")
    assert "None" in present.value_html(None) and "None" in present.value_html([])
    link = present.link("/x?a=1&b=2", "<x>")
    assert present.value_html(link) == Markup('<a class="govuk-link" href="/x?a=1&amp;b=2">&lt;x&gt;</a>')


def test_every_public_status_has_a_label_and_a_tag_colour() -> None:
    from accord.registry.agreements import PUBLIC_STATUSES

    for status in PUBLIC_STATUSES:
        assert present.status_label(status) and present.status_classes(status).startswith("govuk-tag--")
    assert present.plural(1, "comment") == "1 comment" and present.plural(0, "comment") == "0 comments"
