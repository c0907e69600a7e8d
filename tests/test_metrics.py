"""Golden tests for the metric layer: every metric in the registry on small hand-built conversations.

The fixtures are in tests/fixtures/metrics/ (README there); team settings are tests/conftest.py
team_settings(): America/New_York, open Mon-Fri 09:00-12:00 + 13:00-17:00. In October 2026 New York is on
EDT = UTC-4, so 14:00Z is 10:00 local; Oct 16 2026 is a Friday, Oct 19 a Monday. Times below are local.
Every expected figure carries, next to it, how it was worked out by hand.

response_times.csv ("response"), one line +15550100001. Blocks (B#), in order of their first message:
  B1 C4 Fri 16 18:00 "Do you run on Sundays?" (closed) - a02 18:00:05 auto-reply (template "We're closed right
     now", is_automated=false) - a03 ag_03 Mon 19 09:20. Calendar: Fri 18:00 -> Mon 09:20 = 2 d 15 h 20 min
     = 63 h 20 min = 228,000 s. Business: nothing open Fri after 17:00 or on the weekend, Mon 09:00-09:20 =
     1,200 s. Received outside hours -> deadline = close of the next business day, Mon 17:00: met.
     One conversation: the 63 h gap is closed by a human reply to a customer still waiting.
  B2 C1 Mon 10:00, 10:01, 10:02 (a burst of three texts = ONE block) - a07 10:02:30 auto-reply (flag) does
     not answer it - a08 ag_01 10:10. 600 s calendar = 600 s business (all inside 09:00-12:00). Deadline Mon
     17:00: met.
  B3 C1 follow-up Mon 11:30 - a10 ag_02 13:45. Calendar 2 h 15 min = 8,100 s; business 11:30-12:00 (1,800) +
     13:00-13:45 (2,700) = 4,500 s. Follow-up: > 2 h calendar, <= 2 h business. Deadline met.
  B4 C2 Mon 11:50 - a12 ag_01 12:40, inside the lunch break. Calendar 50 min = 3,000 s; business
     11:50-12:00 = 600 s (12:00-12:40 is closed). Deadline met.
  B5 C7 Mon 14:00 "hello?", never answered. Deadline Mon 17:00 (passed at the end of the data).
  B6 C3 Mon 16:30 - a15 ag_01 16:40 status failed (not a reply) - a16 ag_01 Tue 09:30. Calendar 17 h =
     61,200 s; business Mon 16:30-17:00 (1,800) + Tue 09:00-09:30 (1,800) = 3,600 s. Received in hours ->
     deadline Mon 17:00: missed.
  B7 C3 follow-up Tue 10:00 - a18 ag_02 13:30. Calendar 3 h 30 min = 12,600 s; business 10:00-12:00 (7,200) +
     13:00-13:30 (1,800) = 9,000 s. > 2 h either way. Deadline Tue 17:00: met.
  B8 C5 Tue 15:00 - a20 ag_03 15:05: 300 s calendar = business. Deadline met.
  B9 C5 follow-up Tue 15:10 "It's blue", never answered. Deadline Tue 17:00 (passed).
  B10 C6 Tue 17:30 "Are you open tomorrow?", never answered: the last message, so the END OF THE DATA
     (as_of) is Tue 20 17:30. Received after close -> deadline Wed 17:00 (still ahead).
  Age of the unanswered blocks at the end of the data (Tue 17:30):
     B5: calendar 27 h 30 min; business Mon 14-17 (3 h) + Tue 9-12 (3 h) + 13-17 (4 h) = 10 h.
     B9: calendar 2 h 20 min = 8,400 s; business Tue 15:10-17:00 = 1 h 50 min = 6,600 s.
     B10: 0 s.
  Messages: 22 = 12 inbound (a01 a04 a05 a06 a09 a11 a13 a14 a17 a19 a21 a22) + 10 outbound: 7 human replies
  (a03 a08 a10 a12 a16 a18 a20), 2 automated (a02 a07), 1 failed (a15). Conversations: one per contact C1-C7.

volume_surveys.csv ("volume", with volume_surveys_file.csv), lines L1 +15550100001 (sms), L2 +15550100002
(whatsapp). 34 messages, by contact:
  D8 L1: m01 Mon 19 22:30 (stored 2026-10-20T02:30Z) inquiry; m02 ag_02 Tue 09:05; m03 Tue 09:10 CSAT prompt,
     never answered.
  D1 L1: d01 Tue 20 10:00 inquiry; d02 ag_01 10:05:00; d03 ag_01 10:05:30; d04 10:20 inquiry; d05 ag_01 10:25;
     d06 10:30 CSAT prompt; d07 10:32 "8" (valid 8). Then 47 h 28 min of silence after being answered, so a
     NEW conversation: d08 Thu 22 10:00 inquiry; d09 ag_02 10:10; d10 10:15 NPS prompt; d11 10:20 "ten!" (10).
  D4 L1: g01 Wed 21 09:30 "STOP" (an opt-out, not an inquiry, no block, no survey).
  D3 L1: f01 Wed 11:00 inquiry; f02 ag_02 11:02; f03 11:10 CSAT prompt; f04 11:15 "STOP" (answers the survey:
     parse status opt_out, no score; also an opt-out).
  D2 L2: e01 Wed 14:00 "My card is 4111 1111 1111 1111" (Luhn-valid card, inbound); e02 ag_03 14:03 asks for an
     SSN "123-45-6789" (outbound); e03 14:10 CSAT prompt; e04 14:12 "between 6 and 8" (ambiguous).
  D5 L1: h01 Thu 13:00 inquiry; h02 ag_01 13:01; h03 13:05 CSAT prompt; h04 13:06 "12" (out_of_range);
     h05 13:20 NPS prompt; h06 13:25 "great service!" (not_a_number); h07 15:00 CSAT prompt, never answered.
  D6 L2: k01 Fri 23 10:00 inquiry; k02 ag_03 10:02; k03 10:05 CSAT prompt; k04 10:06 empty text (empty).
     k04 (Fri 10:06) is the end of the data.
  Survey file: s1 D8 CSAT "5" Thu 11:00 (agent: D8's last human reply m02, ag_02); s2 D3 NPS "9" Thu 11:00
     (f02, ag_02); s3 D1 NPS "3" Thu 11:30 (d09, ag_02).
  Inquiry blocks (all answered): D8 m01->m02 38,100 s (22:30 -> 09:05) / 300 business; D1 d01->d02 300;
  D1 d04->d05 300 (follow-up); D1 d08->d09 600; D3 f01->f02 120; D2 e01->e02 180; D5 h01->h02 60;
  D6 k01->k02 120.

weeks.csv ("weeks"), line L1: W1 Mon Oct 12 10:00, 10:20, 10:40 inquiries, ag_01 11:00; W2 Mon Oct 19 10:15
  inquiry, ag_01 10:30, then Wed Oct 21 16:00 inquiry (53 h later: a second conversation), unanswered.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from etl.load import run_load
from metrics.__main__ import main
from metrics.params import Params
from metrics.query import Filters, business_cutoff, compare, compute
from metrics.reads import busiest_matrix
from metrics.registry import CATALOG, DIMENSIONS, METRICS
from replyboard import warehouse
from replyboard.business_time import business_seconds
from tests.helpers import FIXTURES, team_settings

FIX = FIXTURES / "metrics"
WAREHOUSES = {
    "response": ("response_times.csv", "agents.csv"),
    "volume": ("volume_surveys.csv", "volume_surveys_file.csv", "agents.csv"),
    "weeks": ("weeks.csv", "agents.csv"),
    "closers": ("closers_reactions.csv", "agents.csv"),  # tests/test_golden_closers.py works it out
}
L1, L2 = "+15550100001", "+15550100002"
NO_FILTERS = Filters()


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, files in WAREHOUSES.items():
        db = tmp_path_factory.mktemp(name) / f"{name}.duckdb"
        report = run_load(db, [FIX / f for f in files], team_settings())
        assert report.errors == [] and report.total("rows_rejected") == 0
        out[name] = db
    return out


def run(db: Path, names: list[str], *, by: str | None = None, filters: Filters = NO_FILTERS, **options):
    con = warehouse.connect_readonly(db)
    try:
        return compute(con, names, by=by, filters=filters, params=Params(**options))
    finally:
        con.close()


def rows(db: Path, sql: str) -> list[tuple]:
    con = warehouse.connect_readonly(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@dataclass(frozen=True)
class Case:
    warehouse: str
    value: float | int | None
    n: int | None = None
    options: dict = field(default_factory=dict)
    filters: Filters = NO_FILTERS


# Hand-worked values for the blocks of response_times.csv (see the module docstring, B1-B10).
RESPONSE_CALENDAR = [228000, 600, 8100, 3000, 61200, 12600, 300]  # answered blocks B1 B2 B3 B4 B6 B7 B8
RESPONSE_BUSINESS = [1200, 600, 4500, 600, 3600, 9000, 300]
FIRST_CALENDAR = [228000, 600, 3000, 61200, 300]  # block_seq 1 only: B1 B2 B4 B6 B8
FIRST_BUSINESS = [1200, 600, 600, 3600, 300]
VOLUME_CALENDAR = [38100, 300, 300, 600, 120, 180, 60, 120]  # the 8 blocks of volume_surveys.csv
BUSINESS = {"hours": "business"}

GOLDEN: dict[str, list[Case]] = {
    # ---------------------------------------------------------------- volume
    "inbound_messages": [
        Case("response", 12),  # a01 a04 a05 a06 a09 a11 a13 a14 a17 a19 a21 a22
        # m01 d01 d04 d07 d08 d11 g01 f01 f04 e01 e04 h01 h04 h06 k01 k04 = 16 (8 inquiries, 7 survey replies
        # of which one is a STOP, 1 plain STOP)
        Case("volume", 16),
        Case("weeks", 5),  # w1 w2 w3 w5 w7
    ],
    "inquiry_messages": [
        Case("response", 12),  # every inbound text of response_times.csv is an inquiry
        Case("volume", 8),  # m01 d01 d04 d08 f01 e01 h01 k01; survey answers and STOPs are not inquiries
    ],
    "no_reply_needed_messages": [
        Case("response", 0),
        Case("volume", 0),  # "great service!" answers a survey: a survey answer, not a closer
        # r03 great thanks!, r09 r11 r12 r13 tapbacks, r14 👍🏽, r15 Thanks Luis! (not r06, which asks)
        Case("closers", 7),
    ],
    "survey_answer_messages": [
        Case("response", 0),
        Case("volume", 6),  # d07 d11 e04 h04 h06 k04; f04 (STOP) answers a survey but is an opt-out
    ],
    "outbound_messages": [
        Case("response", 10),  # 7 human replies + a02 a07 (auto) + a15 (failed)
        Case("volume", 18),  # 9 human replies + 9 survey prompts (m03 d06 d10 f03 e03 h03 h05 h07 k03)
    ],
    "human_replies": [
        Case("response", 7),  # a03 a08 a10 a12 a16 a18 a20 (not the auto-replies a02 a07, not the failed a15)
        Case("volume", 9),  # m02 d02 d03 d05 d09 f02 e02 h02 k02
        Case("volume", 4, filters=Filters(agents=("ag_01",))),  # d02 d03 d05 h02
        Case("volume", 2, filters=Filters(teams=("Sales",))),  # ag_03: e02 k02
    ],
    "automated_messages": [
        Case("response", 2),  # a02 (template "We're closed right now", flag false) + a07 (flag true)
        Case("volume", 9),  # the 9 survey prompts
    ],
    "automated_share": [
        Case("response", 2 / 9, n=9),  # 2 automated / (2 automated + 7 human replies); the failed send is neither
        Case("volume", 9 / 18, n=18),  # 9 prompts / (9 prompts + 9 human replies) = 0.5
    ],
    "conversations": [
        Case("response", 7),  # one per contact: C4's 63 h gap is closed by a reply to a waiting customer
        Case("volume", 8),  # D8, D1 (x2: 47 h gap after being answered), D4, D3, D2, D5, D6
        Case("weeks", 3),  # W1; W2 Oct 19 and W2 Oct 21 (53 h gap)
    ],
    "unanswered_inquiries": [
        Case("response", 3),  # B5 B9 B10 (the burst B2 is one block, answered)
        Case("volume", 0),
        Case("weeks", 1),  # W2's Wednesday text
    ],
    "inquiry_blocks": [
        Case("response", 10),  # B1-B10: 12 inquiries, the burst of three is one block
        Case("volume", 8),  # see the docstring's block list
    ],
    "opt_outs": [
        Case("response", 0),
        Case("volume", 2),  # g01 STOP on its own + f04 STOP answering a CSAT prompt
    ],
    "messages_per_conversation_mean": [
        Case("response", 22 / 7, n=7),  # C4 3 + C1 7 + C2 2 + C7 1 + C3 5 + C5 3 + C6 1 = 22 messages / 7
        Case("volume", 34 / 8, n=8),  # D8 3 + D1 7 + D1 4 + D4 1 + D3 4 + D2 4 + D5 7 + D6 4 = 34 / 8 = 4.25
    ],
    # ---------------------------------------------------------------- response (calendar, then business)
    "first_response_time_median": [
        Case("response", 3000, n=5),  # sorted 300 600 3000 61200 228000 -> middle one
        Case("response", 600, n=5, options=BUSINESS),  # sorted 300 600 600 1200 3600 -> middle one
    ],
    "first_response_time_p90": [
        # position 0.9 x (5-1) = 3.6: 61200 + 0.6 x (228000 - 61200) = 61200 + 100080 = 161280
        Case("response", 161280, n=5),
        # 1200 + 0.6 x (3600 - 1200) = 1200 + 1440 = 2640
        Case("response", 2640, n=5, options=BUSINESS),
    ],
    "first_response_time_mean": [
        Case("response", 58620, n=5),  # (228000 + 600 + 3000 + 61200 + 300) / 5 = 293100 / 5
        Case("response", 1260, n=5, options=BUSINESS),  # (1200 + 600 + 600 + 3600 + 300) / 5 = 6300 / 5
    ],
    "reply_time_median": [
        Case("response", 8100, n=7),  # sorted 300 600 3000 8100 12600 61200 228000 -> 4th
        Case("response", 1200, n=7, options=BUSINESS),  # sorted 300 600 600 1200 3600 4500 9000 -> 4th
        Case("volume", 240, n=8),  # sorted 60 120 120 180 300 300 600 38100: (180 + 300) / 2 (even n)
    ],
    "reply_time_p90": [
        # position 0.9 x 6 = 5.4: 61200 + 0.4 x (228000 - 61200) = 61200 + 66720 = 127920
        Case("response", 127920, n=7),
        Case("response", 6300, n=7, options=BUSINESS),  # 4500 + 0.4 x (9000 - 4500) = 6300
        Case("volume", 11850, n=8),  # position 0.9 x 7 = 6.3: 600 + 0.3 x (38100 - 600) = 600 + 11250
    ],
    "reply_time_mean": [
        Case("response", 313800 / 7, n=7),  # 228000+600+8100+3000+61200+12600+300 = 313800; / 7 = 44828.57
        Case("response", 19800 / 7, n=7, options=BUSINESS),  # 1200+600+4500+600+3600+9000+300 = 19800; / 7
    ],
    "response_within_target_rate": [
        # target 120 min = 7200 s, calendar. Eligible: 7 answered + B5 (27.5 h old) + B9 (8400 s >= 7200);
        # B10 (0 s old) is left out. Within: 600 3000 300 (B2 B4 B8) -> 3 / 9
        Case("response", 3 / 9, n=9),
        # business: eligible 7 answered + B5 (10 h of business time); B9 is only 6600 business seconds old
        # (< 7200) so it is left out; B10 too. Within 7200: 1200 600 4500 600 3600 300 (all but B7's 9000) -> 6/8
        Case("response", 6 / 8, n=8, options=BUSINESS),
        # --target 60 (3600 s), business: B9 (6600 s old) is now past the target -> eligible 9; within 3600:
        # 1200 600 600 3600 300 (B1 B2 B4 B6 B8) -> 5 / 9
        Case("response", 5 / 9, n=9, options={"hours": "business", "target_minutes": 60}),
        # --target 10 (600 s), calendar: within 600: B2 (600) B8 (300) -> 2; eligible 7 + B5 + B9 = 9
        Case("response", 2 / 9, n=9, options={"target_minutes": 10}),
    ],
    "same_business_day_response_rate": [
        # Eligible: 7 answered + B5 (deadline Mon 17:00) + B9 (deadline Tue 17:00 <= end Tue 17:30); B10's
        # deadline Wed 17:00 is still ahead -> left out. Met: B1 (outside hours, by Mon 17:00), B2, B3, B4, B7,
        # B8 = 6; missed: B6 (Mon 16:30 answered Tue), B5, B9 -> 6 / 9. The same in both hours.
        Case("response", 6 / 9, n=9),
        Case("response", 6 / 9, n=9, options=BUSINESS),
        Case("volume", 1.0, n=8),  # D8 arrived Mon 22:30 (closed), answered Tue 09:05 < Tue 17:00; the rest same day
    ],
    "same_day_misses": [
        # the misses of same_business_day_response_rate: B6 (answered Tue after Mon 17:00), B5 and B9 (unanswered
        # past their deadlines) = 9 eligible - 6 met; B10's deadline is still ahead. The same in both hours.
        Case("response", 3),
        Case("response", 3, options=BUSINESS),
        Case("volume", 0),
    ],
    "follow_up_gaps": [
        # follow-ups B3 (8100 s), B7 (12600 s) and B9 (unanswered, 8400 s old) all waited over 2 h: 3 - 0 within
        Case("response", 3),
        # business: B3 4500 s is within 2 h, B7 9000 s is not, B9 is 6600 business seconds old (not yet judged)
        Case("response", 1, options=BUSINESS),
        Case("volume", 0),  # D1 d04 -> d05 in 300 s
    ],
    "follow_up_within_2h_rate": [
        # Follow-ups B3 (8100 s), B7 (12600 s), B9 (unanswered, 8400 s old): all eligible, none within 7200
        Case("response", 0.0, n=3),
        # business: B3 4500 (within), B7 9000 (not); B9 is 6600 business seconds old -> left out: 1 / 2
        Case("response", 1 / 2, n=2, options=BUSINESS),
        Case("volume", 1.0, n=1),  # D1 d04 -> d05 in 300 s
    ],
    # ---------------------------------------------------------------- agents
    "conversations_handled": [
        Case("response", 5),  # C4 C1 C2 C3 C5 have a human reply; C7 and C6 do not
        Case("volume", 7),  # every conversation but D4's lone STOP
        Case("response", 3, filters=Filters(agents=("ag_01",))),  # ag_01 replied in C1, C2, C3
    ],
    "active_texting_seconds": [
        # ag_01 a08 a12 a16, ag_02 a10 a18, ag_03 a03 a20: all far apart -> 7 x 120 = 840
        Case("response", 840, n=7),
        # ag_01: d02 120 + d03 (30 s after d02) 30 + d05 120 + h02 120 = 390; ag_02: m02 d09 f02 = 360;
        # ag_03: e02 k02 = 240 -> 990
        Case("volume", 990, n=9),
        # ag_01 on Tue Oct 20 only: d02 120 + d03 30 + d05 120 = 270
        Case(
            "volume",
            270,
            n=3,
            filters=Filters(agents=("ag_01",), date_from=date(2026, 10, 20), date_to=date(2026, 10, 20)),
        ),
    ],
    # ---------------------------------------------------------------- satisfaction
    "csat_mean": [
        Case("volume", 6.5, n=2),  # valid CSAT: d07 8 and s1 5 -> 13 / 2 (h04 "12" is out of range)
        Case("response", None, n=0),
    ],
    "csat_satisfied_rate": [
        Case("volume", 0.5, n=2),  # >= 8 (settings: "above 7"): d07 only -> 1 / 2
    ],
    "csat_responses": [
        Case("volume", 2),  # d07, s1
    ],
    "nps": [
        # valid NPS: d11 10, s2 9 (promoters), s3 3 (detractor): 100 x (2 - 1) / 3 = 33.33
        Case("volume", 100 / 3, n=3),
    ],
    "nps_responses": [
        Case("volume", 3),  # d11, s2, s3 (h06 "great service!" is not a number)
    ],
    "survey_replies": [
        Case("volume", 10),  # d07 d11 f04 e04 h04 h06 k04 from texts + s1 s2 s3 from the survey file
    ],
    "survey_replies_valid": [Case("volume", 5)],  # d07 8, d11 "ten!", s1 5, s2 9, s3 3
    "survey_replies_out_of_range": [Case("volume", 1)],  # h04 "12" on the 1-9 CSAT scale
    "survey_replies_ambiguous": [Case("volume", 1)],  # e04 "between 6 and 8"
    "survey_replies_not_a_number": [Case("volume", 1)],  # h06 "great service!"
    "survey_replies_opt_out": [Case("volume", 1)],  # f04 "STOP"
    "survey_replies_empty": [Case("volume", 1)],  # k04, no text
    # h04 e04 h06 k04: every status but valid and opt_out (f04 "STOP" is survey_replies_opt_out's)
    "survey_replies_not_parsed": [Case("volume", 4, n=4)],
    # the valid high scores (d07 "8", d11 "ten!", s2 "9") hold no words beyond the number; tests/test_read_layer.py
    # has the cases with words
    "testimonial_replies": [Case("volume", 0, n=0)],
    # CSAT below 8: s1 "5" (d07 "8" is satisfied); NPS detractors 0-6: s3 "3" -> 2. With satisfied at 9, d07 too.
    "low_satisfaction_replies": [
        Case("volume", 2, n=2),
        Case("volume", 3, n=3, options={"satisfied_at_least": 9}),
        Case("response", 0),
    ],
    "survey_response_rate": [
        # 9 prompts; answered: d06 d10 f03 e03 h03 h05 k03 = 7; m03 (Tue 09:10) unanswered and its 24 h reply
        # window closed before the end of the data (Fri 10:06) -> counts as not answered; h07 (Thu 15:00)
        # unanswered but only 19 h 06 min old at the end -> left out. 7 / 8
        Case("volume", 7 / 8, n=8),
        Case("response", None, n=0),  # no prompts
    ],
    # ---------------------------------------------------------------- customers, compliance
    "repeat_customer_rate": [
        Case("response", 0.0, n=7),  # 7 contacts, one conversation each
        Case("volume", 1 / 7, n=7),  # D1 has 2 conversations; D8 D4 D3 D2 D5 D6 have 1
        Case("weeks", 1 / 2, n=2),  # W2 has 2 (split by a 53 h gap after being answered), W1 has 1
    ],
    "sensitive_data_messages": [
        Case("volume", 2),  # e01 (card 4111 1111 1111 1111, Luhn-valid, inbound) + e02 (SSN 123-45-6789, outbound)
        Case("response", 0),
    ],
    # with no annotations; tests/test_annotations.py marks blocks and hits and re-scores replies
    "sensitive_data_open": [Case("volume", 2), Case("response", 0)],
    "inquiries_marked_no_reply_needed": [Case("response", 0), Case("volume", 0)],
}


def test_every_metric_has_a_golden_case():
    assert [name for name in METRICS if not GOLDEN.get(name)] == []
    assert [name for name in GOLDEN if name not in METRICS] == []


@pytest.mark.parametrize(
    ("name", "case"),
    [(name, case) for name, cases in GOLDEN.items() for case in cases],
    ids=[f"{name}-{i}" for name, cases in GOLDEN.items() for i in range(len(cases))],
)
def test_golden_value(dbs, name, case):
    got = run(dbs[case.warehouse], [name], filters=case.filters, **case.options).row(0, named=True)
    if case.value is None:
        assert got[name] is None
    else:
        assert got[name] == pytest.approx(case.value, rel=1e-9)
    if case.n is not None:
        assert got[f"{name}_n"] == case.n
    if CATALOG[name].aggregation == "count" and case.n is None:  # a count's n is the count itself
        assert got[f"{name}_n"] == got[name]


def test_derived_blocks_behind_the_response_figures(dbs):
    got = rows(
        dbs["response"],
        """
        SELECT strftime(started_local, '%a %H:%M'), inquiries, block_seq, is_follow_up, reply_agent_id,
               calendar_seconds, business_seconds, replied_at <= deadline_at
        FROM inquiry_blocks ORDER BY started_at""",
    )
    assert got == [
        ("Fri 18:00", 1, 1, False, "ag_03", 228000.0, 1200.0, True),  # B1: the auto-reply a02 is not a reply
        ("Mon 10:00", 3, 1, False, "ag_01", 600.0, 600.0, True),  # B2: a burst of 3; a07 does not end it
        ("Mon 11:30", 1, 2, True, "ag_02", 8100.0, 4500.0, True),  # B3
        ("Mon 11:50", 1, 1, False, "ag_01", 3000.0, 600.0, True),  # B4: answered in the lunch break
        ("Mon 14:00", 1, 1, False, None, None, None, None),  # B5: unanswered
        ("Mon 16:30", 1, 1, False, "ag_01", 61200.0, 3600.0, False),  # B6: the failed a15 is not a reply
        ("Tue 10:00", 1, 2, True, "ag_02", 12600.0, 9000.0, True),  # B7
        ("Tue 15:00", 1, 1, False, "ag_03", 300.0, 300.0, True),  # B8
        ("Tue 15:10", 1, 2, True, None, None, None, None),  # B9
        ("Tue 17:30", 1, 1, False, None, None, None, None),  # B10
    ]
    kinds = dict(rows(dbs["response"], "SELECT message_id, kind FROM messages WHERE direction = 'outbound'"))
    assert (kinds["a02"], kinds["a07"], kinds["a15"]) == ("automated", "automated", "failed_reply")


@pytest.mark.parametrize(
    ("end", "seconds", "cutoff"),
    [
        ("2026-10-20T21:30:00Z", 7200, "2026-10-20T19:00:00Z"),  # Tue 17:30 (closed): back 17:00 -> 15:00
        ("2026-10-20T21:30:00Z", 3600, "2026-10-20T20:00:00Z"),  # -> 16:00
        ("2026-10-19T17:30:00Z", 7200, "2026-10-19T14:30:00Z"),  # Mon 13:30: 13:00-13:30 + 12:00 back 1.5 h = 10:30
        ("2026-10-19T13:30:00Z", 3600, "2026-10-16T20:30:00Z"),  # Mon 09:30: 30 min Mon + Fri 17:00 back 30 min
        ("2026-10-20T21:30:00Z", 0, "2026-10-20T21:30:00Z"),  # no age asked: every block qualifies
    ],
)
def test_business_cutoff_walks_back_over_opening_hours(end, seconds, cutoff):
    settings = team_settings()
    end_at, cutoff_at = datetime.fromisoformat(end), datetime.fromisoformat(cutoff)
    assert business_cutoff(settings, end_at, seconds) == cutoff_at
    assert business_seconds(settings, cutoff_at, end_at) == seconds


def test_inbound_kinds_and_surveys(dbs):
    kinds = dict(rows(dbs["volume"], "SELECT message_id, kind FROM messages WHERE direction = 'inbound'"))
    assert kinds["g01"] == "opt_out"  # STOP on its own: not an inquiry
    assert kinds["f04"] == "survey_answer"  # STOP answering a CSAT prompt
    assert {k for k, v in kinds.items() if v == "inquiry"} == {"m01", "d01", "d04", "d08", "f01", "e01", "h01", "k01"}
    surveys = rows(
        dbs["volume"],
        "SELECT response_id, survey, score, parse_status, agent_id FROM survey_responses ORDER BY response_id",
    )
    assert surveys == [
        ("d07", "csat", 8, "valid", "ag_01"),
        ("d11", "nps", 10, "valid", "ag_02"),
        ("e04", "csat", None, "ambiguous", "ag_03"),
        ("f04", "csat", None, "opt_out", "ag_02"),  # STOP: never a score
        ("h04", "csat", 12, "out_of_range", "ag_01"),
        ("h06", "nps", None, "not_a_number", "ag_01"),
        ("k04", "csat", None, "empty", "ag_03"),
        ("s1", "csat", 5, "valid", "ag_02"),
        ("s2", "nps", 9, "valid", "ag_02"),
        ("s3", "nps", 3, "valid", "ag_02"),
    ]


@pytest.mark.parametrize(
    ("name", "values", "hours"),
    [
        ("reply_time", RESPONSE_CALENDAR, "calendar"),
        ("reply_time", RESPONSE_BUSINESS, "business"),
        ("first_response_time", FIRST_CALENDAR, "calendar"),
        ("first_response_time", FIRST_BUSINESS, "business"),
    ],
)
def test_median_and_p90_interpolate_like_numpy(dbs, name, values, hours):
    got = run(dbs["response"], [f"{name}_median", f"{name}_p90", f"{name}_mean"], hours=hours).row(0, named=True)
    assert got[f"{name}_median"] == pytest.approx(float(np.quantile(values, 0.5)))
    assert got[f"{name}_p90"] == pytest.approx(float(np.quantile(values, 0.9)))
    assert got[f"{name}_mean"] == pytest.approx(float(np.mean(values)))
    stored = sorted(
        v
        for (v,) in rows(
            dbs["response"],
            f"SELECT {hours}_seconds FROM inquiry_blocks "
            f"WHERE replied_at IS NOT NULL{' AND block_seq = 1' if 'first' in name else ''}",
        )
    )
    assert stored == sorted(values)


def test_even_n_median_like_numpy(dbs):
    got = run(dbs["volume"], ["reply_time_median", "reply_time_p90"]).row(0, named=True)
    assert got["reply_time_median"] == pytest.approx(float(np.quantile(VOLUME_CALENDAR, 0.5)))  # 240
    assert got["reply_time_p90"] == pytest.approx(float(np.quantile(VOLUME_CALENDAR, 0.9)))  # 11850


def grouped(db: Path, names: list[str], by: str, **kw) -> dict:
    frame = run(db, names, by=by, **kw)
    keys = frame[by].to_list()
    assert len(keys) == len(set(keys)), f"one row per {by} group, got {keys}"
    if len(names) == 1:
        return dict(zip(keys, frame[names[0]].to_list(), strict=True))
    return {row[by]: tuple(row[n] for n in names) for row in frame.iter_rows(named=True)}


def test_grouping_by_agent_team_line_channel(dbs):
    vol = dbs["volume"]
    # human replies: ag_01 d02 d03 d05 h02; ag_02 m02 d09 f02; ag_03 e02 k02; texts without an agent: 0
    assert grouped(vol, ["human_replies"], "agent") == {"ag_01": 4, "ag_02": 3, "ag_03": 2, None: 0}
    assert grouped(vol, ["human_replies"], "team") == {"Care": 7, "Sales": 2, None: 0}  # Care = ag_01 + ag_02
    # inbound on L2 (whatsapp): e01 e04 k01 k04; on L1 the other 12
    assert grouped(vol, ["inbound_messages"], "line") == {L1: 12, L2: 4}
    assert grouped(vol, ["inbound_messages"], "channel") == {"sms": 12, "whatsapp": 4}
    assert grouped(vol, ["sensitive_data_messages"], "direction") == {"inbound": 1, "outbound": 1}
    # the customer's card number belongs to the owner of its conversation (ag_03's), like every inbound text
    assert grouped(vol, ["sensitive_data_messages"], "agent") == {"ag_03": 2, None: 0, "ag_01": 0, "ag_02": 0}
    # CSAT goes to the last human replier before the survey: ag_01 d07 8; ag_02 s1 5; ag_03 only ambiguous/empty
    csat = run(vol, ["csat_mean"], by="agent")
    assert {r["agent"]: (r["csat_mean"], r["csat_mean_n"]) for r in csat.iter_rows(named=True)} == {
        "ag_01": (8.0, 1),
        "ag_02": (5.0, 1),
        "ag_03": (None, 0),
    }
    # active texting per agent (see GOLDEN): 390 / 360 / 240
    assert grouped(vol, ["active_texting_seconds"], "agent") == {"ag_01": 390.0, "ag_02": 360.0, "ag_03": 240.0}
    # response times go to the block's owner, the conversation's first replier (README "Ownership"): ag_01 owns
    # +1 (B2 600, B3 8100: answered by ag_02), +2 (B4 3000) and +3 (B6 61200, B7 12600: answered by ag_02)
    # -> median 8100; ag_02 owns no conversation (no group); ag_03 owns +4 (B1 228000) and +5 (B8 300, B9
    # unanswered) -> 114150; B5 (+7) and B10 (+6) were never answered: no owner, no value
    assert grouped(dbs["response"], ["reply_time_median"], "agent") == {
        "ag_01": 8100.0,
        "ag_03": 114150.0,
        None: None,
    }
    assert grouped(dbs["response"], ["conversations_handled"], "agent") == {"ag_01": 3, "ag_02": 2, "ag_03": 2, None: 0}


def test_grouping_metrics_of_different_facts_gives_one_row_per_key(dbs):
    # human_replies (messages) and reply_time_median (blocks) both have a "no agent" group: one row, not two
    got = grouped(dbs["response"], ["human_replies", "reply_time_median", "unanswered_inquiries"], "agent")
    assert got == {
        "ag_01": (3, 8100.0, 0),  # a08 a12 a16; the blocks of +1, +2, +3
        "ag_02": (2, None, 0),  # a10 a18, in conversations ag_01 owns
        "ag_03": (2, 114150.0, 1),  # a03 a20; B9 is in +5, which ag_03 owns
        None: (0, None, 2),  # B5 B10: conversations nobody answered
    }


def test_grouping_by_time(dbs):
    vol = dbs["volume"]
    # inbound by local day: Oct 19 m01 (22:30); Oct 20 d01 d04 d07; Oct 21 g01 f01 f04 e01 e04;
    # Oct 22 d08 d11 h01 h04 h06; Oct 23 k01 k04
    assert grouped(vol, ["inbound_messages"], "day") == {
        date(2026, 10, 19): 1,
        date(2026, 10, 20): 3,
        date(2026, 10, 21): 5,
        date(2026, 10, 22): 5,
        date(2026, 10, 23): 2,
    }
    assert grouped(vol, ["inbound_messages"], "weekday") == {
        "Monday": 1,
        "Tuesday": 3,
        "Wednesday": 5,
        "Thursday": 5,
        "Friday": 2,
    }
    assert run(vol, ["inbound_messages"], by="weekday")["weekday"].to_list() == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
    ]
    # local hours: 22 m01; 10 d01 d04 d07 d08 d11 k01 k04; 9 g01; 11 f01 f04; 14 e01 e04; 13 h01 h04 h06;
    # 15 has only the outbound prompt h07, so its group exists with 0 inbound texts
    assert grouped(vol, ["inbound_messages"], "hour") == {9: 1, 10: 7, 11: 2, 13: 3, 14: 2, 15: 0, 22: 1}
    # weeks start on Monday: Oct 12 w1 w2 w3; Oct 19 w5 w7
    assert grouped(dbs["weeks"], ["inbound_messages"], "week") == {date(2026, 10, 12): 3, date(2026, 10, 19): 2}
    assert grouped(dbs["weeks"], ["inbound_messages"], "month") == {date(2026, 10, 1): 5}
    # blocks by the local day they started: Fri 16 B1; Mon 19 B2-B6; Tue 20 B7-B10
    assert grouped(dbs["response"], ["inquiry_blocks"], "day") == {
        date(2026, 10, 16): 1,
        date(2026, 10, 19): 5,
        date(2026, 10, 20): 4,
    }


def test_partial_periods_are_flagged(dbs):
    weeks = dbs["weeks"]
    # the data's days: Mon Oct 12 (w1) to Wed Oct 21 (w7). The week of Oct 12 (Oct 12-18) lies inside them;
    # the week of Oct 19 runs to Sun Oct 25, past the last day: partial. October (1-31) is partial too.
    by_week = run(weeks, ["inbound_messages"], by="week")
    assert dict(zip(by_week["week"], by_week["partial"], strict=True)) == {
        date(2026, 10, 12): False,
        date(2026, 10, 19): True,
    }
    assert run(weeks, ["inbound_messages"], by="month")["partial"].to_list() == [True]
    # a day with data is a whole day (the data's first and last days count whole)
    assert not any(run(weeks, ["inbound_messages"], by="day")["partial"])
    # the date filters cut too: up to Sat Oct 17 the week of Oct 12 ends after the window
    cut = run(weeks, ["inbound_messages"], by="week", filters=Filters(date_to=date(2026, 10, 17)))
    assert (cut["week"].to_list(), cut["partial"].to_list()) == ([date(2026, 10, 12)], [True])
    # splits that are not calendar periods carry no flag
    assert "partial" not in run(weeks, ["inbound_messages"], by="hour").columns


def test_rates_and_scores_below_min_n_are_flagged(dbs):
    vol = dbs["volume"]
    # valid CSAT: d07 8 and s1 5 (n = 2); valid NPS: d11 s2 s3 (n = 3); 16 inbound texts (a count: no flag)
    got = run(vol, ["csat_mean", "csat_satisfied_rate", "nps", "inbound_messages"]).row(0, named=True)
    assert (got["csat_mean_low_n"], got["csat_satisfied_rate_low_n"], got["nps_low_n"]) == (True, True, True)
    assert "inbound_messages_low_n" not in got
    two = run(vol, ["csat_mean", "nps"], min_n=3).row(0, named=True)
    assert (two["csat_mean_low_n"], two["nps_low_n"]) == (True, False)  # 2 < 3, 3 is enough
    # per agent: ag_01 has one valid CSAT (d07), ag_02 one (s1); the flag is per group
    per_agent = run(vol, ["csat_mean"], by="agent", min_n=1)
    assert not any(per_agent.filter(per_agent["csat_mean_n"] > 0)["csat_mean_low_n"])
    assert all(per_agent.filter(per_agent["csat_mean_n"] == 0)["csat_mean_low_n"])  # n = 0 is below any min_n


def test_cli_json_and_csv_carry_the_flags(dbs, capsys):
    args = ["report", "--db", str(dbs["weeks"]), "--metric", "automated_share", "--by", "week", "--format", "json"]
    assert main(args) == 0
    rows_ = json.loads(capsys.readouterr().out)
    # automation over (automated + human replies): no automated texts; w4 and w6 are human replies
    assert [(r["week"], r["partial"], r["automated_share"], r["automated_share_low_n"]) for r in rows_] == [
        ("2026-10-12", False, 0.0, True),
        ("2026-10-19", True, 0.0, True),
    ]
    assert main(["report", "--db", str(dbs["volume"]), "--metric", "nps", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["nps,nps_low_n", "33.3,true"]  # CSV rounded


def test_date_filters_are_inclusive_in_the_team_timezone(dbs):
    vol = dbs["volume"]
    oct19 = Filters(date_from=date(2026, 10, 19), date_to=date(2026, 10, 19))
    # m01 is stored as 2026-10-20T02:30Z = Oct 19 22:30 in New York: it is Oct 19's only text
    assert run(vol, ["inbound_messages"], filters=oct19)["inbound_messages"][0] == 1
    oct20 = Filters(date_from=date(2026, 10, 20), date_to=date(2026, 10, 20))
    assert run(vol, ["inbound_messages"], filters=oct20)["inbound_messages"][0] == 3  # d01 d04 d07, not m01
    # both ends included: Oct 20-21 = 3 + 5
    both = Filters(date_from=date(2026, 10, 20), date_to=date(2026, 10, 21))
    assert run(vol, ["inbound_messages"], filters=both)["inbound_messages"][0] == 8
    # each metric's own anchor: the block of m01 started Oct 19 (answered Oct 20) -> Oct 19's reply time
    assert run(vol, ["reply_time_mean"], filters=oct19)["reply_time_mean"][0] == 38100.0


def test_line_channel_agent_team_filters(dbs):
    vol = dbs["volume"]
    assert run(vol, ["inbound_messages"], filters=Filters(lines=(L2,)))["inbound_messages"][0] == 4
    assert run(vol, ["inbound_messages"], filters=Filters(channels=("whatsapp",)))["inbound_messages"][0] == 4
    assert run(vol, ["inbound_messages"], filters=Filters(channels=("sms",)))["inbound_messages"][0] == 12
    assert run(vol, ["inbound_messages"], filters=Filters(lines=(L1, L2)))["inbound_messages"][0] == 16
    # agent filter on blocks: the replier. ag_03 answered B1 (228000) and B8 (300)
    got = run(dbs["response"], ["reply_time_mean"], filters=Filters(agents=("ag_03",))).row(0, named=True)
    assert (got["reply_time_mean"], got["reply_time_mean_n"]) == (114150.0, 2)
    # team filter on surveys: Care = ag_01 + ag_02 -> valid CSAT d07 8 + s1 5
    got = run(vol, ["csat_mean"], filters=Filters(teams=("Care",))).row(0, named=True)
    assert (got["csat_mean"], got["csat_mean_n"]) == (6.5, 2)


def test_a_filtered_value_equals_its_group_in_a_grouped_report(dbs):
    # active texting merges an agent's spans before filtering, so one day alone equals that day's row
    vol = dbs["volume"]
    by_day = grouped(vol, ["active_texting_seconds"], "day", filters=Filters(agents=("ag_01",)))
    assert by_day == {date(2026, 10, 20): 270.0, date(2026, 10, 22): 120.0}  # d02+d03+d05 = 120+30+120; h02
    for day, value in by_day.items():
        one_day = Filters(agents=("ag_01",), date_from=day, date_to=day)
        assert run(vol, ["active_texting_seconds"], filters=one_day)["active_texting_seconds"][0] == value


def test_active_texting_merges_an_agents_spans_across_lines_before_filtering(load, tmp_path):
    messages = tmp_path / "two_lines.csv"
    messages.write_text(
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body\n"
        f"x1,2026-10-19T14:00:00Z,inbound,{L1},+15554000001,,false,hi\n"
        f"x2,2026-10-19T14:00:10Z,inbound,{L2},+15554000002,,false,hello\n"
        f"x3,2026-10-19T14:01:00Z,outbound,{L1},+15554000001,ag_01,false,Hi!\n"
        f"x4,2026-10-19T14:01:30Z,outbound,{L2},+15554000002,ag_01,false,Hello!\n"
        f"x5,2026-10-19T14:30:00Z,outbound,{L2},+15554000002,ag_01,false,Anything else?\n"
    )
    db, _ = load(messages)
    # ag_01: x3 120 s; x4 is 30 s after x3 (on the other line) -> 30 s; x5 isolated -> 120 s. Total 270.
    assert run(db, ["active_texting_seconds"])["active_texting_seconds"][0] == 270.0
    assert grouped(db, ["active_texting_seconds"], "line") == {L1: 120.0, L2: 150.0}
    # the L2 filter gives L2's row (30 + 120), not 120 + 120 as if ag_01 had not just been texting on L1
    assert run(db, ["active_texting_seconds"], filters=Filters(lines=(L2,)))["active_texting_seconds"][0] == 150.0


def test_previous_period_comparison(dbs):
    con = warehouse.connect_readonly(dbs["weeks"])
    try:
        got = compare(
            con,
            ["inbound_messages", "conversations", "human_replies"],
            Filters(date_from=date(2026, 10, 19), date_to=date(2026, 10, 25)),
        )
    finally:
        con.close()
    # this week (Oct 19-25): w5 w7 inbound, W2's two conversations, w6; the week before (Oct 12-18): w1 w2 w3,
    # W1's conversation, w4
    assert got["inbound_messages"] == {"value": 2, "n": 2, "previous": 3, "previous_n": 3}
    assert got["conversations"] == {"value": 2, "n": 2, "previous": 1, "previous_n": 1}
    assert got["human_replies"] == {"value": 1, "n": 1, "previous": 1, "previous_n": 1}


def test_busiest_matrix_is_averaged_per_week(dbs):
    con = warehouse.connect_readonly(dbs["weeks"])
    try:
        two_weeks = Filters(date_from=date(2026, 10, 12), date_to=date(2026, 10, 25))  # 2 Mondays, 2 Wednesdays
        inbound = busiest_matrix(con, two_weeks)
        new = busiest_matrix(con, two_weeks, "conversations")
        from_only = busiest_matrix(con, Filters(date_from=date(2026, 10, 5)))  # Oct 5 -> data end Oct 21
    finally:
        con.close()
    assert inbound.height == 7 * 24

    def cell(frame, weekday, hour):
        row = frame.filter((frame["weekday_name"] == weekday) & (frame["hour"] == hour)).row(0, named=True)
        return row["n"], row["per_week"]

    assert cell(inbound, "Monday", 10) == (4, 2.0)  # w1 w2 w3 (Oct 12) + w5 (Oct 19) over 2 Mondays
    assert cell(inbound, "Wednesday", 16) == (1, 0.5)  # w7 over 2 Wednesdays
    assert inbound["n"].sum() == 5 and inbound["per_week"].sum() == 2.5
    assert cell(new, "Monday", 10) == (2, 1.0)  # W1 Oct 12, W2 Oct 19
    assert cell(new, "Wednesday", 16) == (1, 0.5)  # W2's second conversation
    # an open-ended window still counts its own Mondays: Oct 5, 12, 19 -> 4 / 3
    assert cell(from_only, "Monday", 10) == (4, pytest.approx(4 / 3))
    assert inbound.select("weekday", "hour").rows()[:2] == [(1, 0), (1, 1)]


# ------------------------------------------------------------------------------------------------ the CLI


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_rows_by_agent(dbs, capsys):
    code, out, _ = cli(
        capsys,
        "--db",
        str(dbs["response"]),
        "--metric",
        "human_replies",
        "--metric",
        "reply_time_median",
        "--by",
        "agent",
        "--format",
        "json",
    )
    assert code == 0
    got = json.loads(out)
    assert got == [
        {"agent": "ag_01", "human_replies": 3, "reply_time_median": 8100.0},  # the owner's blocks (see above)
        {"agent": "ag_02", "human_replies": 2, "reply_time_median": None},
        {"agent": "ag_03", "human_replies": 2, "reply_time_median": 114150.0},
        {"agent": None, "human_replies": 0, "reply_time_median": None},
    ]
    assert all(list(row) == ["agent", "human_replies", "reply_time_median"] for row in got)


def test_cli_target_hours_dates_and_n(dbs, capsys):
    code, out, _ = cli(
        capsys,
        "--db",
        str(dbs["response"]),
        "--metric",
        "response_within_target_rate",
        "--hours",
        "business",
        "--target",
        "60",
        "--format",
        "json",
        "--with-n",
    )
    assert code == 0
    assert json.loads(out) == [
        {
            "response_within_target_rate": round(5 / 9, 6),
            "response_within_target_rate_n": 9,
            "response_within_target_rate_low_n": False,  # 9 blocks: not below min_n 5
        }
    ]
    code, out, _ = cli(
        capsys,
        "--db",
        str(dbs["volume"]),
        "--metric",
        "inbound_messages",
        "--from",
        "2026-10-19",
        "--to",
        "2026-10-19",
        "--format",
        "json",
    )
    assert (code, json.loads(out)) == (0, [{"inbound_messages": 1}])  # m01, 02:30Z = Oct 19 22:30 local


def test_cli_csv_and_table(dbs, capsys):
    code, out, _ = cli(
        capsys,
        "--db",
        str(dbs["response"]),
        "--metric",
        "inbound_messages",
        "--metric",
        "unanswered_inquiries",
        "--by",
        "day",
        "--format",
        "csv",
    )
    assert code == 0
    # inbound by local day: Oct 16 a01; Oct 19 a04 a05 a06 a09 a11 a13 a14; Oct 20 a17 a19 a21 a22.
    # Unanswered blocks by the day they started: Oct 19 B5; Oct 20 B9 B10.
    # a day with data is a whole day: no day is partial; the flag comes after the columns it extends
    assert list(csv.reader(io.StringIO(out))) == [
        ["day", "inbound_messages", "unanswered_inquiries", "partial"],
        ["2026-10-16", "1", "0", "false"],
        ["2026-10-19", "7", "1", "false"],
        ["2026-10-20", "4", "2", "false"],
    ]
    code, out, _ = cli(
        capsys,
        "--db",
        str(dbs["response"]),
        "--metric",
        "human_replies",
        "--metric",
        "reply_time_median",
        "--format",
        "table",
    )
    assert code == 0
    header, rule, values = out.strip("\n").split("\n")
    assert header.split() == ["human_replies", "reply_time_median"]
    assert set(rule) <= {"-", " "}
    assert values.split() == ["7", "2.2", "h"]  # 8,100 s, written as the dashboard writes it


@pytest.mark.parametrize(
    ("args", "message", "valid"),
    [
        (
            ["--metric", "human_replies", "--metric", "replies_per_hour"],
            "unknown metric replies_per_hour",
            list(METRICS),
        ),
        (["--metric", "human_replies", "--by", "colour"], "unknown dimension 'colour'", list(DIMENSIONS)),
        (
            ["--metric", "reply_time_median", "--by", "direction"],
            "reply_time_median cannot be split by direction",
            list(CATALOG["reply_time_median"].dimensions),
        ),
    ],
)
def test_cli_unknown_name_is_one_clear_error_exit_2(dbs, capsys, args, message, valid):
    code, out, err = cli(capsys, "--db", str(dbs["response"]), *args, "--format", "json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    listed = err.split("valid: ", 1)[1].strip().split(", ")
    assert listed == valid
    assert "Traceback" not in err
