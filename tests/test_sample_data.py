"""The synthetic data generator: exact shape, determinism, and the realism the dashboard relies on."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from replyboard.business_time import business_seconds, closed_dates, open_intervals
from replyboard.sensitive import find_sensitive, luhn_ok
from replyboard.settings import Settings, load_settings
from sample_data import corpora
from sample_data.generate import (
    MESSAGE_COLUMNS,
    SURVEY_COLUMNS,
    Calendar,
    build_texts,
    generate,
    luhn_complete,
    write,
)

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = load_settings()
START = date(2026, 9, 14)  # no holiday in the window: Monday is a plain Monday
DAYS = 70  # ten whole weeks, so every weekday occurs equally often
N = 30_000
E164 = r"^\+1[2-9]\d{2}[2-9]\d{6}$"
ISO_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def _with_local_time(df: pl.DataFrame, col: str = "created_at") -> pl.DataFrame:
    loc = pl.col(col).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC").dt.convert_time_zone(SETTINGS.timezone)
    df = df.with_columns(
        ts=pl.col(col).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
        local=loc,
    )
    df = df.with_columns(
        weekday=pl.col("local").dt.weekday().cast(pl.Int32),  # 1 = Monday
        hour=pl.col("local").dt.hour().cast(pl.Int32),
        minute_of_day=pl.col("local").dt.hour().cast(pl.Int32) * 60 + pl.col("local").dt.minute().cast(pl.Int32),
        local_date=pl.col("local").dt.date(),
    )
    is_open = pl.lit(False)
    for wd in range(7):
        for start, end in SETTINGS.windows_for(wd):
            lo, hi = start.hour * 60 + start.minute, end.hour * 60 + end.minute + (1 if end.second else 0)
            is_open = is_open | (
                (pl.col("weekday") == wd + 1) & (pl.col("minute_of_day") >= lo) & (pl.col("minute_of_day") < hi)
            )
    return df.with_columns(is_open=is_open & ~pl.col("local_date").is_in(list(SETTINGS.holidays)))


def _sessions(df: pl.DataFrame) -> pl.DataFrame:
    """Conversations as the warehouse derives them: per line and contact, split at the session gap."""
    gap = SETTINGS.session_gap_hours * 3600
    df = df.sort("line_number", "contact_number", "ts")
    prev = pl.col("ts").shift(1).over("line_number", "contact_number")
    df = df.with_columns(new=(prev.is_null() | ((pl.col("ts") - prev).dt.total_seconds() > gap)))
    return df.with_columns(conversation=pl.col("new").cast(pl.Int64).cum_sum())


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "data"
    write(generate(N, seed=11, start=START, days=DAYS, settings=SETTINGS), out)
    return out


@pytest.fixture(scope="module")
def messages(out_dir) -> pl.DataFrame:
    return _with_local_time(_read(out_dir / "messages.csv"))


@pytest.fixture(scope="module")
def inbound(messages) -> pl.DataFrame:
    return messages.filter(pl.col("direction") == "inbound")


# ------------------------------------------------------------------------------------ shape, determinism
def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write(generate(3000, seed=seed, settings=SETTINGS), tmp_path / name)
    for file in ("messages.csv", "surveys.csv", "agents.csv", "lines.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    assert (tmp_path / "a" / "messages.csv").read_bytes() != (tmp_path / "c" / "messages.csv").read_bytes()


def test_command_line_writes_the_same_files_and_reports(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "sample_data.generate", "--messages", "200", "--seed", "3", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "messages.csv 200 rows" in proc.stdout
    assert "[sample_data]" in proc.stderr
    write(generate(200, seed=3, settings=SETTINGS), tmp_path / "fn")
    for file in ("messages.csv", "surveys.csv", "agents.csv", "lines.csv"):
        assert (out / file).read_bytes() == (tmp_path / "fn" / file).read_bytes(), file


@pytest.mark.parametrize("n", [1, 7, 200, 4999])
def test_exact_message_count(n):
    assert generate(n, seed=n, settings=SETTINGS)["messages"].height == n


def test_headers_are_exactly_the_canonical_columns(out_dir):
    first = (out_dir / "messages.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == ",".join(MESSAGE_COLUMNS)
    first = (out_dir / "surveys.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == ",".join(SURVEY_COLUMNS)
    assert (out_dir / "agents.csv").read_text(encoding="utf-8").startswith("agent_id,name,team\n")
    assert (out_dir / "lines.csv").read_text(encoding="utf-8").startswith("line_number,name,team\n")


def test_message_rows_are_well_formed(messages, out_dir):
    m = messages
    assert m.height == N
    assert m["message_id"].n_unique() == N
    assert m["created_at"].str.contains(ISO_Z).all()
    assert m["ts"].is_sorted()
    first = datetime(START.year, START.month, START.day, tzinfo=SETTINGS.zone)
    assert m["local"].min() >= first
    assert m["local"].max() < first + timedelta(days=DAYS)
    assert set(m["direction"].unique()) == {"inbound", "outbound"}
    assert set(m["is_automated"].unique()) == {"true", "false"}
    assert m["conversation_id"].is_null().all()
    assert set(m["channel"].unique()) == {"sms", "whatsapp"}
    assert 0.005 < (m["channel"] == "whatsapp").mean() < 0.08
    assert m["line_number"].str.contains(r"^\+1\d{10}$").all()
    assert m["contact_number"].str.contains(E164).all()
    lines = set(_read(out_dir / "lines.csv")["line_number"])
    assert set(m["line_number"].unique()) == lines
    assert not lines & set(m["contact_number"].unique())
    # a person's id only on texts a person sent
    human = (pl.col("direction") == "outbound") & (pl.col("is_automated") == "false")
    assert m.select((pl.col("agent_id").is_not_null() == human).all()).item()
    assert set(m["agent_id"].drop_nulls().unique()) <= set(_read(out_dir / "agents.csv")["agent_id"])
    assert m.filter(pl.col("direction") == "inbound")["is_automated"].unique().to_list() == ["false"]
    # statuses
    inbound_status = set(m.filter(pl.col("direction") == "inbound")["status"].unique())
    assert inbound_status == {"received"}
    out_status = m.filter(pl.col("direction") == "outbound")["status"]
    assert set(out_status.unique()) == {"delivered", "failed", "undelivered"}
    assert (out_status == "delivered").mean() > 0.95
    # one contact never sends or receives two texts in the same second
    assert m.select(pl.struct("contact_number", "created_at").is_duplicated().any()).item() is False
    assert m["body"].is_not_null().mean() > 0.99


def test_agents_and_lines(out_dir):
    agents = _read(out_dir / "agents.csv")
    assert 10 <= agents.height <= 14
    assert agents["agent_id"].str.contains(r"^ag_\d{2}$").all()
    assert agents["team"].n_unique() == 2
    lines = _read(out_dir / "lines.csv")
    assert lines.height == 3
    assert set(lines["name"]) == {"Support", "Rides today", "Rides in the future"}
    assert lines["line_number"].str.contains(r"^\+1\d{10}$").all()


# ------------------------------------------------------------------------------------------------ realism
def test_monday_is_the_busiest_weekday_and_weekends_are_quiet(inbound):
    per_day = inbound.group_by("weekday").len().sort("weekday")
    counts = dict(zip(per_day["weekday"], per_day["len"], strict=True))
    assert max(range(1, 6), key=counts.__getitem__) == 1
    weekday_avg = sum(counts[d] for d in range(1, 6)) / 5
    assert counts[6] < 0.5 * weekday_avg
    assert counts[7] < 0.5 * weekday_avg


def test_hourly_profile_peaks_in_the_working_day(inbound):
    per_hour = inbound.group_by("hour").len()
    busiest = per_hour.sort("len", descending=True)["hour"][0]
    assert 9 <= busiest <= 15
    night = per_hour.filter(pl.col("hour") < 6)["len"].sum()
    assert night < 0.05 * inbound.height


def test_share_of_inbound_outside_business_hours(inbound):
    outside = 1 - inbound["is_open"].mean()
    assert 0.10 <= outside <= 0.35


def test_auto_replies_only_outside_business_hours(messages):
    templates = [re.compile(p) for p in SETTINGS.auto_reply_templates]
    auto = messages.filter(
        pl.col("body").map_elements(lambda b: any(t.search(b) for t in templates), return_dtype=pl.Boolean)
    )
    assert auto.height > 50
    assert (auto["direction"] == "outbound").all()
    assert (auto["is_automated"] == "true").all()
    assert auto["agent_id"].is_null().all()
    assert not auto["is_open"].any()
    # each answers a customer text received seconds earlier
    s = _sessions(messages)
    prev_dir = pl.col("direction").shift(1).over("conversation")
    prev_ts = pl.col("ts").shift(1).over("conversation")
    s = s.with_columns(prev_dir=prev_dir, wait=(pl.col("ts") - prev_ts).dt.total_seconds())
    auto_rows = s.filter(pl.col("body").str.starts_with("Thanks for reaching out!"))
    assert (auto_rows["prev_dir"] == "inbound").all()
    assert auto_rows["wait"].max() <= 10


def test_repeat_customers(messages):
    per_contact = _sessions(messages).group_by("contact_number").agg(pl.col("new").sum().alias("conversations"))
    share = (per_contact["conversations"] >= 2).mean()
    assert 0.2 <= share <= 0.45


def test_agents_differ_in_speed(messages):
    s = _sessions(messages)
    s = s.with_columns(
        prev_dir=pl.col("direction").shift(1).over("conversation"),
        wait=(pl.col("ts") - pl.col("ts").shift(1).over("conversation")).dt.total_seconds(),
    )
    replies = s.filter(pl.col("agent_id").is_not_null() & (pl.col("prev_dir") == "inbound"))
    medians = replies.group_by("agent_id").agg(pl.col("wait").median())["wait"]
    assert medians.max() >= 2 * medians.min()
    # follow-up replies mostly within two hours, never all of them
    within = (replies["wait"] <= 7200).mean()
    assert 0.6 < within < 0.99


def test_survey_prompts_match_the_settings_regexes(messages):
    csat = [re.compile(p, re.IGNORECASE) for p in SETTINGS.survey_prompts.csat]
    nps = [re.compile(p, re.IGNORECASE) for p in SETTINGS.survey_prompts.nps]
    auto = messages.filter((pl.col("is_automated") == "true") & pl.col("body").str.contains("(?i)scale"))
    kinds = []
    for body in auto["body"]:
        is_csat, is_nps = any(p.search(body) for p in csat), any(p.search(body) for p in nps)
        assert is_csat != is_nps, body
        kinds.append("csat" if is_csat else "nps")
    assert kinds.count("csat") > 20
    assert kinds.count("nps") > 5
    # no human text and no inbound text looks like a prompt
    others = messages.filter(pl.col("is_automated") == "false")["body"].drop_nulls()
    assert not any(p.search(b) for b in others for p in csat + nps)


def test_texted_csat_replies_are_messy_but_mostly_good(messages):
    s = _sessions(messages)
    s = s.with_columns(
        prev_body=pl.col("body").shift(1).over("conversation"),
        wait=(pl.col("ts") - pl.col("ts").shift(1).over("conversation")).dt.total_seconds(),
    )
    replies = s.filter((pl.col("direction") == "inbound") & pl.col("prev_body").str.contains("(?i)on a scale of 1-9"))
    assert replies.height > 50
    assert (replies["wait"] <= 3600).mean() > 0.7
    bare = replies.filter(pl.col("body").str.contains(r"^[1-9]$"))["body"].cast(pl.Int64)
    assert bare.len() > 0.25 * replies.height
    assert 6.5 <= bare.mean() <= 8.5
    assert (~replies["body"].fill_null("").str.contains(r"^[1-9]$")).sum() > 0.2 * replies.height
    opt_outs = {k.upper() for k in SETTINGS.opt_out_keywords}
    stops = messages.filter(
        (pl.col("direction") == "inbound") & pl.col("body").str.strip_chars(" .!").str.to_uppercase().is_in(opt_outs)
    )
    assert stops.height > 0


def test_some_card_numbers_and_ssns_for_the_compliance_metrics(messages):
    bodies = messages["body"].drop_nulls().to_list()
    runs = [m.group(0) for b in bodies for m in re.finditer(r"\d(?:[ -]?\d){12,18}", b)]
    assert any(luhn_ok(re.sub(r"\D", "", r)) for r in runs)
    assert any("card" in find_sensitive(b) for b in bodies)  # what the warehouse will flag
    assert any(re.search(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)", b) for b in bodies)
    asks = messages.filter(pl.col("agent_id").is_not_null() & pl.col("body").str.contains("(?i)card number"))
    assert asks.height >= 1


def test_luhn_complete_appends_the_check_digit():
    # the usual test cards, less their last digit
    assert luhn_complete("411111111111111") == "4111111111111111"
    assert luhn_complete("37828224631000") == "378282246310005"
    assert luhn_complete("601111111111111") == "6011111111111117"
    for body in ("4", "5105105105105", "123456789012345678"):
        completed = luhn_complete(body)
        assert completed[:-1] == body and luhn_ok(completed)
        assert not luhn_ok(body + str((int(completed[-1]) + 1) % 10))


def test_web_survey_answers(out_dir, messages):
    sv = _read(out_dir / "surveys.csv")
    assert 0.5 * N / 100 <= sv.height <= 1.5 * N / 100
    assert sv["response_id"].n_unique() == sv.height
    assert set(sv["survey"].unique()) <= {"csat", "nps"}
    assert sv["received_at"].str.contains(ISO_Z).all()
    assert sv["received_at"].is_sorted()
    assert sv["contact_number"].is_in(messages["contact_number"].implode()).all()
    assert set(sv["line_number"].unique()) <= set(messages["line_number"].unique())
    assert (sv["reply_text"].fill_null("").str.contains(r"^\d+$")).mean() > 0.7


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
GRID_SETTINGS = {
    "plain": Settings(
        timezone="America/New_York",
        business_hours={
            **{d: ["08:30-12:00", "13:00-17:30"] for d in _WEEKDAYS},
            "saturday": ["10:00-14:00"],
            "sunday": ["00:00-24:00"],
        },
        holidays=[date(2026, 3, 17)],
        holiday_country="US",
    ),
    # summer hours from June 1, GB holidays from September 1: the generator follows the schedule in force
    "dated": Settings(
        timezone="America/New_York",
        business_hours=[
            {**{d: ["08:30-12:00", "13:00-17:30"] for d in _WEEKDAYS}, "sunday": ["00:00-24:00"]},
            {"from": "2026-06-01", **{d: ["07:00-15:00"] for d in _WEEKDAYS}},
        ],
        holidays=[date(2026, 3, 17)],
        holiday_country=[{"country": "US"}, {"from": "2026-09-01", "country": "GB"}],
    ),
}


@pytest.mark.parametrize("name", sorted(GRID_SETTINGS))
def test_generator_calendar_is_business_time_on_a_minute_grid(name: str):
    """The generator's opening hours are replyboard.business_time's (the ones derivation counts reply times
    in): the same open instants, holidays and open seconds between any two instants, across both DST changes
    (and, dated, across a change of schedule and of holiday country)."""
    settings = GRID_SETTINGS[name]
    start, days = date(2026, 2, 20), 300  # spring forward 2026-03-08, fall back 2026-11-01
    cal = Calendar.build(settings, start, days)
    last = start + timedelta(days=days - 1)
    windows = open_intervals(settings, start, last)
    epoch = date(1970, 1, 1)
    assert {epoch + timedelta(days=int(d)) for d in cal.holiday_days} == closed_dates(
        settings, start, last + timedelta(days=21)
    )
    rng = np.random.default_rng(8)
    ts = np.sort(rng.integers(cal.start, cal.end, 2000))
    edges = np.array([int(x.timestamp()) + d for s, e, _ in windows[:200] for x in (s, e) for d in (-1, 0, 1)])
    ts = np.concatenate([ts, edges])
    opened = cal.is_open(ts)
    for t, is_open in zip(ts.tolist(), opened.tolist(), strict=True):
        moment = datetime.fromtimestamp(t, UTC)
        assert is_open == any(s <= moment < e for s, e, _ in windows), moment
    f = cal.f(ts)
    for a, b, fa, fb in zip(ts[:-1].tolist(), ts[1:].tolist(), f[:-1].tolist(), f[1:].tolist(), strict=True):
        if a < b:
            expected = business_seconds(settings, datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
            assert fb - fa == expected, (a, b)
    inside = ts[opened]
    assert (cal.f_inv(cal.f(inside)) == inside).all()  # an open instant is the first with its F


def test_the_texts_are_the_corpora_files(tmp_path: Path):
    source = corpora.CORPORA_FILE.read_text(encoding="utf-8")
    shipped = corpora.load()
    assert shipped.automated.auto_reply in build_texts().pool.strings
    assert len(shipped.ham) == 400  # bodies.txt, its comment line left out
    changed = tmp_path / "corpora.yaml"
    changed.write_text(source.replace("Thanks for reaching out!", "Hello from the test!"), encoding="utf-8")
    pool = build_texts(corpora.load(changed)).pool.strings
    assert any(t.startswith("Hello from the test!") for t in pool)
    assert not any(t.startswith("Thanks for reaching out!") for t in pool)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("\nburst:", "\nbursts:"), r"corpora\.yaml: burst: Field required; bursts: Extra inputs"),
        (
            lambda t: t.replace('  "Support":\n', '  "Help":\n', 1),
            r"corpora\.yaml: open has no texts for line 'Support'",
        ),
        (
            lambda t: t.replace('"zero", ', "", 1) if '"zero", ' in t else t.replace('    - "zero"\n', ""),
            r"number_words",
        ),
        (lambda t: t + "nudge: [\n", r"corpora\.yaml: cannot read the sample texts"),
    ],
)
def test_a_broken_corpora_file_is_a_clear_error(tmp_path: Path, edit, message: str):
    broken = tmp_path / "corpora.yaml"
    broken.write_text(edit(corpora.CORPORA_FILE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        build_texts(corpora.load(broken))


def test_the_automated_texts_are_what_the_shipped_settings_classify():
    """The auto-reply and the survey prompts must match settings.yaml's templates and prompts, or the demo
    would count them as human replies."""
    texts = corpora.load().automated
    assert any(re.search(p, texts.auto_reply, re.I) for p in SETTINGS.auto_reply_templates)
    assert any(re.search(p, texts.csat_prompt, re.I) for p in SETTINGS.survey_prompts.csat)
    assert any(re.search(p, texts.nps_prompt, re.I) for p in SETTINGS.survey_prompts.nps)
    assert not any(re.search(p, texts.nps_prompt, re.I) for p in SETTINGS.survey_prompts.csat)
