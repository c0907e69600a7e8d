"""A digest written for each channel: email HTML (table layout, CSS inlined with css-inline) and its plain-text
alternative, the MIME message with inline PNG charts (cid) and CSV attachments, Slack Block Kit, webhook JSON.

Text is escaped by Jinja2's autoescape in HTML; CSV cells a spreadsheet would run as formulas are neutralised
(replyboard.csv_safety).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import css_inline
import jinja2
import polars as pl

from charts.theme import STATUS_COLOURS
from digests.model import Digest, KeyResultLine, Table
from replyboard.csv_safety import to_safe_csv_bytes

TEMPLATES = Path(__file__).resolve().parent / "templates"
GREY = "#8c959f"
SLACK_STATUS = {
    "on track": ":large_green_circle:",
    "at risk": ":large_yellow_circle:",
    "off track": ":red_circle:",
}
SLACK_MAX_TEXT = 2900  # a section's text is at most 3,000 characters


def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a misspelt field is an error, not an empty cell
        trim_blocks=not autoescape,
        lstrip_blocks=not autoescape,
        keep_trailing_newline=True,
    )


_HTML = _env(True)
_TEXT = _env(False)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b %Y}"


def colour(status: str | None) -> str:
    return STATUS_COLOURS.get(status or "", GREY)


def text_table(frame: pl.DataFrame) -> str:
    """Aligned columns: the first to the left, the figures to the right."""
    rows = [list(frame.columns), *([str(c) for c in r] for r in frame.rows())]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _trend(kr: KeyResultLine) -> str:
    return " → ".join(kr.weekly_text) if len(kr.weekly_text) > 1 else ""


def _context(digest: Digest, footer: str) -> dict:
    kr_charts = {kr.chart for kr in digest.key_results if kr.chart}
    return {
        "d": digest,
        "footer": footer,
        "headline_title": "The day against the day before"
        if digest.window[0] == digest.window[1]
        else "The week against the week before",
        "free_charts": [c for c in digest.charts if c.id not in kr_charts],
        "body_tables": body_tables(digest),
        "pct": pct,
        "pct_int": lambda v: max(0, min(100, round((v or 0) * 100))),
        "day": day,
        "colour": colour,
        "trend": _trend,
        "table": text_table,
    }


def body_tables(digest: Digest) -> list[Table]:
    """The tables the body shows as tables (headline and key results have their own layout)."""
    return [t for t in digest.tables if t.name not in ("headline", "key-results")]


def footer_text(subscription: str, cadence: str, timezone: str, recipients: Sequence[str], channel: str) -> str:
    to = ", ".join(recipients) if recipients else f"the {channel} webhook"
    return (
        f"Sent to {to} for the subscription {subscription} (cadence {cadence}, {timezone}). "
        "The attached CSV files hold the tables."
    )


def html(digest: Digest, footer: str, image_src: Callable[[str], str]) -> str:
    """The email's HTML with every style inlined (mail clients drop <style> blocks)."""
    page = _HTML.get_template("digest.html.j2").render(**_context(digest, footer), img=image_src)
    return css_inline.inline(page)


def text(digest: Digest, footer: str) -> str:
    return _TEXT.get_template("digest.txt.j2").render(**_context(digest, footer))


def csv_files(digest: Digest) -> dict[str, bytes]:
    return {f"{t.name}.csv": to_safe_csv_bytes(t.data) for t in digest.tables}


def content_id(chart_id: str) -> str:
    return f"{chart_id}@replyboard"


def email_message(
    *,
    subject: str,
    sender: str,
    recipients: Sequence[str],
    text_body: str,
    html_body: str | None = None,
    images: Mapping[str, bytes] | None = None,
    attachments: Mapping[str, bytes] | None = None,
) -> EmailMessage:
    """multipart/mixed [ multipart/alternative [ text/plain, multipart/related [ text/html, image/png... ] ],
    text/csv... ]: clients that cannot show HTML show the text; images travel inside the HTML part."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="replyboard")
    msg.set_content(text_body)
    if html_body is not None:
        msg.add_alternative(html_body, subtype="html")
        *_, html_part = msg.iter_parts()  # multipart/alternative: the HTML is its last part
        for chart_id, png in (images or {}).items():
            html_part.add_related(png, "image", "png", cid=f"<{content_id(chart_id)}>", filename=f"{chart_id}.png")
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return msg


# ---- Slack and webhook -----------------------------------------------------------------------------------------


def _mrkdwn(text: str) -> str:
    """Slack's three control characters escaped (user text may hold them)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(digest: Digest) -> dict:
    """Block Kit: the title, the headline as fields, the status changes, each objective with its key results."""
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": digest.title[:150], "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(digest.intro)}]},
    ]
    if digest.empty:
        blocks.append(_section("Nothing happened in this window: no texts were sent or received."))
    fields = [
        {"type": "mrkdwn", "text": f"*{_mrkdwn(f.label)}*\n{f.text}" + (f"  ({f.delta})" if f.delta else "")}
        for f in digest.headline
    ]
    for i in range(0, len(fields), 10):  # a section holds at most 10 fields
        blocks.append({"type": "section", "fields": fields[i : i + 10]})
    if digest.okr_period:
        blocks.append({"type": "divider"})
        changes = digest.changes
        blocks.append(
            _section(
                "*Changes since the last digest*\n" + "\n".join(f"• {_mrkdwn(c)}" for c in changes)
                if changes
                else "No key result changed status since the last digest."
            )
        )
        for o in digest.objectives:
            lines = [
                f"*{_mrkdwn(o.title)}*\n{SLACK_STATUS.get(o.status, ':white_circle:')} {o.status}: progress "
                f"{pct(o.progress)}, expected {pct(o.expected)}"
            ]
            for kr in o.key_results:
                lines.append(
                    f"{SLACK_STATUS.get(kr.status, ':white_circle:')} <{kr.link}|{_mrkdwn(kr.title)}>: "
                    f"{kr.current_text} (target {kr.target_text}), {kr.status}"
                )
            blocks.append(_section("\n".join(lines)))
    for t in body_tables(digest):
        blocks.append(_section(f"*{_mrkdwn(t.title)}*\n```{text_table(t.shown)}```"))
    for note in digest.notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(note)}]})
    blocks.append(
        {"type": "actions", "elements": [_button("Open the dashboard", digest.links["dashboard"], "open_dashboard")]}
    )
    return {"text": digest.title, "blocks": blocks[:50]}  # Slack takes at most 50 blocks


def _section(text: str) -> dict:
    if len(text) > SLACK_MAX_TEXT:
        text = text[: SLACK_MAX_TEXT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(label: str, url: str, action: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url, "action_id": action}


def json_bytes(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":")).encode()


# ---- alerts ----------------------------------------------------------------------------------------------------

ALERT_COLOURS = {True: STATUS_COLOURS["off track"], False: STATUS_COLOURS["on track"]}


def alert_html(*, title: str, text: str, link: str, firing: bool, footer: str) -> str:
    page = _HTML.get_template("alert.html.j2").render(
        title=title, text=text, link=link, firing=firing, footer=footer, colour=ALERT_COLOURS[firing]
    )
    return css_inline.inline(page)


def alert_slack(*, title: str, text: str, link: str, firing: bool, rule: str) -> dict:
    mark = ":rotating_light:" if firing else ":white_check_mark:"
    blocks: list[dict] = [
        _section(f"{mark} *{'Alert' if firing else 'Resolved'}: {_mrkdwn(title)}*\n{_mrkdwn(text)}"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Replyboard alert rule `{_mrkdwn(rule)}`"}]},
    ]
    if link:
        blocks.append({"type": "actions", "elements": [_button("Open it on the dashboard", link, "open_alert")]})
    return {"text": f"{'Alert' if firing else 'Resolved'}: {title}", "blocks": blocks}
