"""The digest renderers: plain text, HTML and the Subject line, from hand-made Digest values."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from digest_samples import AS_OF, empty_digest, mailto, person, sample_digest

from syncd.digest_model import AwaitingReply, Digest, SourceHealth
from syncd.render import ago, duration, every, render_html, render_text, subject_line


class Page(HTMLParser):
    """What a reader of the HTML sees and can click: text, links, bars, hidden preheader."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, link text)
        self.bars: list[dict[str, str]] = []  # attributes of each bar cell
        self.bar_heights: list[int] = []
        self.tags: list[str] = []
        self.text_parts: list[str] = []
        self._href: str | None = None
        self._link_text: list[str] = []
        self._in_bar = False
        self.feed(html)
        self.text = re.sub(r"\s+", " ", " ".join(self.text_parts))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "a":
            self._href, self._link_text = a.get("href", ""), []
        if tag == "td" and "bar" in a.get("class", "").split():
            self.bars.append(a)
            self._in_bar = True
        elif tag == "td" and self._in_bar and "height" in a:
            self.bar_heights.append(int(a["height"]))
            self._in_bar = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._link_text).split())))
            self._href = None

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        if self._href is not None:
            self._link_text.append(data)


def test_text_digest_shows_each_person_with_last_contact_rhythm_and_overdue() -> None:
    text = render_text(sample_digest())
    grace = text[text.index("1.  Grace Hopper <grace@navy.example>") :]
    grace = grace[: grace.index("2.  Charles Babbage")]
    assert "Last contact 2 months ago (Mon 21 Sep 2026):" in grace
    assert "Email: Re: the Lisbon conference" in grace
    assert "Usually every week; 7 weeks overdue." in grace
    assert "mailto:grace@navy.example?subject=Re%3A%20the%20Lisbon%20conference" in grace
    assert "Meeting: Monthly catch-up" in text
    assert "You wanted every 3 months; 7 weeks overdue." in text  # pinned rhythm
    assert "Every 3 weeks (default rhythm); 12 days overdue." in text
    # Sections in order, with their content.
    order = ["SLIPPING OUT OF SIGHT", "WAITING ON YOUR REPLY", "UPCOMING BIRTHDAYS", "Sync health"]
    assert [text.index(s) for s in order] == sorted(text.index(s) for s in order)
    assert "“Draft of the translation notes”" in text
    assert "Waiting 6 days, since Tue 17 Nov." in text
    assert "Mary Somerville: Thu 26 Nov (in 3 days)" in text


def test_text_digest_fits_72_columns_except_bare_links() -> None:
    long_subject = "Re: " + "a very long subject about the analytical engine " * 4
    d = dataclasses.replace(
        sample_digest(),
        people=(
            person(
                "Ada's friend with a rather long name",
                "f@x.example",
                days_since=90,
                subject=long_subject,
            ),
        ),
    )
    for line in render_text(d).splitlines():
        if line.strip().startswith(("mailto:", "Reply: mailto:", "Send wishes: mailto:")):
            continue
        assert len(line) <= 72, line


def test_text_digest_draws_twelve_months_of_contact_with_initials() -> None:
    text = render_text(sample_digest())
    lines = text.splitlines()
    i = lines.index("    Last 12 months: ▆█▆▆█▅▆▆▃···  (35 days in touch)")
    assert lines[i + 1] == " " * 20 + "DJFMAMJJASON"


def test_html_digest_shows_people_in_order_with_what_and_when() -> None:
    page = Page(render_html(sample_digest()))
    names = ["Grace Hopper", "Charles Babbage", "Zoë Ångström-Núñez", "Mary Somerville"]
    positions = [page.text.index(n) for n in names]
    assert positions == sorted(positions)
    assert "Last contact 2 months ago (Mon 21 Sep 2026)" in page.text
    assert "Email: Re: the Lisbon conference" in page.text
    assert "Meeting: Lunch at the Crick" in page.text
    assert "Usually every week 7 weeks overdue" in page.text
    assert "You wanted every 3 months 7 weeks overdue" in page.text
    assert "Waiting on your reply · 2" in page.text
    assert "“Draft of the translation notes”" in page.text
    assert "Waiting 6 days, since Tue 17 Nov" in page.text
    assert "Mary Somerville Thu 26 Nov (in 3 days)" in page.text


def test_html_bars_are_twelve_per_person_and_proportional_to_monthly() -> None:
    d = sample_digest()
    page = Page(render_html(d))
    assert len(page.bars) == 12 * len(d.people)
    grace_heights = page.bar_heights[:12]
    # Grace: (4, 5, 4, 4, 5, 3, 4, 4, 2, 0, 0, 0); the busiest month is the tallest bar.
    assert grace_heights[1] == max(grace_heights) == 36
    assert grace_heights[0] == round(36 * 4 / 5)
    assert grace_heights[-3:] == [2, 2, 2]  # empty months: a thin baseline
    assert page.bars[1]["title"] == "Jan 2026: 5 days"
    assert page.bars[9]["title"] == "Sep 2026: 0 days"
    assert "D J F M A M J J A S O N" in page.text


def test_short_monthly_history_is_padded_to_twelve_bars() -> None:
    p = dataclasses.replace(
        person("New Friend", "n@x.example", days_since=40),
        monthly=(3, 1),
        months=("2026-10", "2026-11"),
    )
    page = Page(render_html(dataclasses.replace(sample_digest(), people=(p,))))
    assert len(page.bars) == 12
    assert page.bar_heights == [2] * 10 + [36, 12]
    assert page.bars[-1]["title"] == "Nov 2026: 1 day"


def test_reply_links_are_the_mailto_urls_escaped_as_attributes() -> None:
    d = sample_digest()
    html = render_html(d)
    page = Page(html)
    hrefs = dict((text, href) for href, text in page.links)
    assert hrefs["Write to Grace →"] == d.people[0].mailto
    assert hrefs["Write to Zoë →"] == d.people[2].mailto
    replies = [href for href, text in page.links if text == "Reply →"]
    assert replies == [a.mailto for a in d.awaiting_reply]
    assert hrefs["Send wishes →"] == "mailto:mary@somerville.example?subject=Happy%20birthday%21"
    # The raw attribute is escaped: '&' in a query string becomes '&amp;'.
    two_params = "mailto:a@x.example?subject=Hi&body=x"
    p = dataclasses.replace(d.people[0], mailto=two_params)
    html = render_html(dataclasses.replace(d, people=(p,)))
    assert 'href="mailto:a@x.example?subject=Hi&amp;body=x"' in html
    assert Page(html).links[0][0] == two_params


def test_links_that_are_not_mailto_are_dropped() -> None:
    d = sample_digest()
    p = dataclasses.replace(d.people[0], mailto="javascript:alert(1)")
    a = dataclasses.replace(d.awaiting_reply[0], mailto="mailto:x@y.example\r\nBcc: z@evil")
    d = dataclasses.replace(d, people=(p,), awaiting_reply=(a,))
    html, text = render_html(d), render_text(d)
    assert "javascript" not in html and "javascript" not in text
    assert "evil" not in html and "evil" not in text
    assert not any(t.startswith(("Write to", "Reply")) for _, t in Page(html).links)


HOSTILE_NAME = 'Eve <script>alert("x")</script> & "Mallory"\r\nBcc: victim@example.org'
HOSTILE_SUBJECT = 'Re: <img src=x onerror=alert(1)> Tom & Jerry\'s "plan"\nX-Injected: yes'


def hostile_digest() -> Digest:
    p = person(HOSTILE_NAME, "eve@evil.example", days_since=70, subject=HOSTILE_SUBJECT)
    a = AwaitingReply(
        name=HOSTILE_NAME,
        email="eve@evil.example",
        received_at=AS_OF - timedelta(days=3),
        subject=HOSTILE_SUBJECT,
        days_waiting=3,
        mailto=mailto("eve@evil.example", "Re: " + HOSTILE_SUBJECT),
    )
    return dataclasses.replace(sample_digest(), people=(p,), awaiting_reply=(a,))


def test_hostile_names_and_subjects_are_escaped_in_html() -> None:
    html = render_html(hostile_digest())
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Mallory&#34;" in html
    assert "Tom &amp; Jerry&#39;s &#34;plan&#34;" in html
    page = Page(html)
    assert page.tags.count("script") == 0 and page.tags.count("img") == 0
    # CR/LF flattened to spaces: the name stays on one line.
    assert 'Eve <script>alert("x")</script> & "Mallory" Bcc: victim@example.org' in page.text
    assert 'Jerry\'s "plan" X-Injected: yes' in page.text


def test_hostile_names_and_subjects_cannot_forge_lines_in_text() -> None:
    text = render_text(hostile_digest())
    lines = text.splitlines()
    assert not any(line.startswith(("Bcc:", "X-Injected:")) for line in lines)
    assert "\r" not in text
    assert 'Eve <script>alert("x")</script> & "Mallory" Bcc:' in " ".join(
        line.strip() for line in lines
    )
    assert "X-Injected" in text  # shown, as part of the subject's line


def test_subject_line_summarises_and_is_one_line() -> None:
    assert subject_line(sample_digest()) == "syncd: 4 people to reach out to, 2 replies waiting"
    d = sample_digest()
    one = dataclasses.replace(d, people=d.people[:1], awaiting_reply=())
    assert subject_line(one) == "syncd: 1 person to reach out to this week"
    three = dataclasses.replace(d, people=d.people[:3], awaiting_reply=())
    assert subject_line(three) == "syncd: 3 people to reach out to this week"
    waiting = dataclasses.replace(d, people=(), awaiting_reply=d.awaiting_reply[:1])
    assert subject_line(waiting) == "syncd: 1 email waiting on your reply"
    assert subject_line(empty_digest()) == "syncd: nobody is overdue this week"
    hostile = subject_line(hostile_digest())
    assert "\n" not in hostile and "\r" not in hostile


def test_footer_shows_sync_health_and_the_fix_for_a_source_needing_reauth() -> None:
    d = sample_digest()
    text = render_text(d)
    assert "  ok  archive (mbox): OK, last synced 2 hours ago" in text
    assert "  ok  calendar (ics): OK, last synced 20 minutes ago" in text
    assert "  !!  personal (google): needs you to sign in again" in text
    assert "      Fix: syncd auth personal" in text
    page = Page(render_html(d))
    assert "personal (google): needs you to sign in again; syncing it has stopped" in page.text
    assert "Fix: syncd auth personal" in page.text
    for body in (text, page.text):
        assert "Considered 143 people; 12 overdue; showing the 4 that matter most." in body


def test_failing_source_shows_its_error_and_last_success() -> None:
    broken = SourceHealth(
        "work",
        "outlook",
        "error",
        AS_OF - timedelta(days=3),
        "HTTP 503 from graph\r\nretry later",
        None,
    )
    text = render_text(dataclasses.replace(sample_digest(), sources=(broken,)))
    assert "work (outlook): last sync failed: HTTP 503 from graph retry later" in text
    assert "(last success 3 days ago)" in text


def test_empty_digest_says_nobody_is_overdue_and_omits_sections() -> None:
    d = empty_digest()
    text = render_text(d)
    page = Page(render_html(d))
    assert "Hi Ada, nobody is overdue this week." in text
    assert "Nobody is overdue this week" in page.text
    for body in (text, page.text.upper()):
        for section in ("SLIPPING OUT OF SIGHT", "WAITING ON YOUR REPLY", "UPCOMING BIRTHDAYS"):
            assert section not in body
    assert page.bars == [] and page.links == []
    assert "archive (mbox): OK, last synced 1 hour ago" in page.text
    assert "Considered 41 people; 0 overdue." in text


def test_only_nonempty_sections_are_rendered() -> None:
    d = dataclasses.replace(sample_digest(), people=(), birthdays=())
    text = render_text(d)
    assert "WAITING ON YOUR REPLY" in text
    assert "SLIPPING OUT OF SIGHT" not in text and "UPCOMING BIRTHDAYS" not in text
    page = Page(render_html(d))
    assert "Waiting on your reply" in page.text and page.bars == []
    assert "Slipping out of sight" not in page.text and "Upcoming birthdays" not in page.text


def test_html_is_self_contained_with_a_preheader() -> None:
    html = render_html(sample_digest())
    page = Page(html)
    assert not {"img", "link", "style", "script", "iframe"} & set(page.tags)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/1999/xhtml"', "")
    assert "https://" not in html and "@import" not in html and "url(" not in html
    assert "max-width:600px" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    preheader = re.search(r'<div style="display:none;[^"]*">([^<&]*)', html)
    assert preheader is not None
    assert preheader.group(1) == (
        "Grace Hopper, Charles Babbage and 2 more: time to get back in touch. "
        "2 emails waiting on your reply. 1 birthday coming up."
    )


def test_absolute_dates_are_in_the_users_timezone() -> None:
    # 23:30 UTC on 14 Oct is already 15 Oct in Tokyo.
    at = datetime(2026, 10, 14, 23, 30, tzinfo=UTC)
    p = person("Kenji Sato", "k@x.example", days_since=39)
    p = dataclasses.replace(p, last_contact=dataclasses.replace(p.last_contact, at=at))
    d = dataclasses.replace(sample_digest(), people=(p,), extra={"timezone": "Asia/Tokyo"})
    assert "(Thu 15 Oct 2026)" in render_text(d)
    d = dataclasses.replace(d, extra={})  # falls back to as_of's zone, UTC here
    assert "(Wed 14 Oct 2026)" in render_text(d)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, "today"),
        (1, "yesterday"),
        (5, "5 days ago"),
        (13, "13 days ago"),
        (14, "2 weeks ago"),
        (21, "3 weeks ago"),
        (59, "8 weeks ago"),
        (60, "2 months ago"),
        (200, "7 months ago"),
        (547, "18 months ago"),
        (800, "2 years ago"),
        (None, "never"),
    ],
)
def test_relative_dates(days: int | None, expected: str) -> None:
    assert ago(days) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (1, "every day"),
        (3, "every 3 days"),
        (7, "every week"),
        (14, "every 2 weeks"),
        (30, "every month"),
        (42, "every 6 weeks"),
        (91, "every 3 months"),
        (365, "every year"),
    ],
)
def test_rhythm_phrases(days: int, expected: str) -> None:
    assert every(days) == expected


def test_durations_pick_a_natural_unit() -> None:
    assert [duration(n) for n in (1, 7, 70, 400)] == ["1 day", "7 days", "2 months", "13 months"]


def test_person_without_a_recorded_contact_and_naive_times_still_render() -> None:
    p = dataclasses.replace(
        person("Nobody Yet", "n@x.example", days_since=0), last_contact=None, days_since=None
    )
    naive = SourceHealth("archive", "mbox", "ok", datetime(2026, 11, 23, 6, 0), None, None)
    d = dataclasses.replace(
        sample_digest(), people=(p,), sources=(naive,), as_of=AS_OF.replace(tzinfo=None), extra={}
    )
    text = render_text(d)
    assert "    No contact on record." in text
    assert "archive (mbox): OK, last synced 2 hours ago" in text
    page = Page(render_html(d))
    assert "No contact on record" in page.text and len(page.bars) == 12
