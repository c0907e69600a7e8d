"""Satisfaction: CSAT on its scale, NPS bands, trends, per agent, replies that could not be parsed, and the
testimonials bank (high scores with words, for marketing)."""

import polars as pl
import streamlit as st

from charts import figures
from charts.figures import Drill
from pages import common
from pages.common import Col

st.title("Satisfaction")
if common.require_data():
    scale = common.settings().csat
    st.caption(
        f"CSAT on a {scale.min}-{scale.max} scale, satisfied from {scale.satisfied_at_least} (settings.yaml); "
        "NPS on 0-10: promoters 9-10, passives 7-8, detractors 0-6. Only replies that parse as one score on "
        "the scale count; the others are listed below. Dates apply to when the reply was received; a score "
        "goes to the agent who sent the last human reply before the survey."
    )
    names = [
        "csat_mean",
        "csat_satisfied_rate",
        "nps",
        "survey_response_rate",
        "survey_replies",
        "survey_replies_not_parsed",
    ]
    row = common.metrics(names).row(0, named=True)
    tiles = [
        ("csat_mean", "CSAT (mean)"),
        ("csat_satisfied_rate", "Satisfied"),
        ("nps", "NPS"),
        ("survey_response_rate", "Survey response rate"),
        ("survey_replies_not_parsed", "Replies not parsed"),
    ]
    for col, (metric, label) in zip(st.columns(len(tiles)), tiles, strict=True):
        common.kpi_metric(col, metric, label, row, target=common.target_for(metric))

    scores = (
        common.metrics(["survey_replies_valid"], by=("survey", "score"))
        .filter(pl.col("score").is_not_null() & (pl.col("survey_replies_valid") > 0))
        .select("survey", "score", pl.col("survey_replies_valid").alias("responses"))
    )
    left, right = st.columns(2)
    with left:
        common.show_figure(
            figures.score_distribution(
                scores.filter(pl.col("survey") == "csat"),
                low=scale.min,
                high=scale.max,
                title="CSAT scores",
                drill=Drill.of("survey_replies_valid", fixed={"survey": "csat"}),
                bands=[
                    ("not satisfied", scale.min, scale.satisfied_at_least - 1),
                    ("satisfied", scale.satisfied_at_least, scale.max),
                ],
            )
        )
    with right:
        common.show_figure(
            figures.score_distribution(
                scores.filter(pl.col("survey") == "nps"),
                low=0,
                high=10,
                title="NPS scores",
                drill=Drill.of("survey_replies_valid", fixed={"survey": "nps"}),
                bands=[("detractors", 0, 6), ("passives", 7, 8), ("promoters", 9, 10)],
            )
        )
    common.download_csv(scores, "survey_scores")

    st.subheader("Trends")
    trend = common.metrics(["csat_mean", "csat_satisfied_rate", "nps"], by="week")
    st.caption(
        "Each point is one week (from Monday) with its n. Hollow points: a partial week (the data or the dates "
        f"start or end inside it) or fewer than {common.min_n()} replies (settings min_n): read them with care."
    )
    mean, satisfied, nps = st.columns(3)
    with mean:
        common.show_figure(
            figures.lines_over_time(
                trend,
                x="week",
                series={"csat_mean": "CSAT mean"},
                y_title=f"CSAT ({scale.min}-{scale.max})",
                value_format=".2f",
                title=f"CSAT mean per week (n = {trend['csat_mean_n'].sum():,})",
                drill=Drill.of(groups={"week": "week"}),
                target=common.target_line("csat_mean"),
                show_n=True,
            )
        )
    with satisfied:
        common.show_figure(
            figures.lines_over_time(
                trend,
                x="week",
                series={"csat_satisfied_rate": "satisfied share"},
                percent=True,
                y_title="share",
                title=f"Satisfied share per week (n = {trend['csat_satisfied_rate_n'].sum():,})",
                drill=Drill.of(groups={"week": "week"}),
                target=common.target_line("csat_satisfied_rate"),
                show_n=True,
            )
        )
    with nps:
        common.show_figure(
            figures.lines_over_time(
                trend,
                x="week",
                series={"nps": "NPS"},
                y_title="NPS (−100..100)",
                value_format=".0f",
                title=f"NPS per week (n = {trend['nps_n'].sum():,})",
                drill=Drill.of(groups={"week": "week"}),
                target=common.target_line("nps"),
                show_n=True,
            )
        )
    common.download_csv(trend, "satisfaction_trend")

    st.subheader("Per agent")
    per_agent = common.metrics(
        ["csat_mean", "csat_satisfied_rate", "csat_responses", "nps", "nps_responses"], by="agent"
    ).filter(pl.col("agent").is_not_null())
    if per_agent.is_empty():
        common.empty("No survey replies attributed to an agent for these filters.")
    else:
        flagged = common.with_low_n(per_agent, {"csat_mean": "CSAT", "csat_satisfied_rate": "satisfied", "nps": "NPS"})
        common.drill_table(
            common.named(flagged)
            .select(
                "name",
                "team",
                "csat_mean",
                "csat_satisfied_rate",
                "csat_responses",
                "nps",
                "nps_responses",
                "low n",
                "agent",
            )
            .sort("csat_responses", descending=True),
            "satisfaction_by_agent",
            key="satisfaction-by-agent",
            groups={"agent": "agent"},
            metrics={c: c for c in ("csat_mean", "csat_satisfied_rate", "csat_responses", "nps", "nps_responses")},
            default="csat_mean",
            columns={
                "name": Col("agent"),
                "team": Col("team"),
                "csat_mean": Col("CSAT (mean)", "score"),
                "csat_satisfied_rate": Col("satisfied", "ratio"),
                "csat_responses": Col("CSAT (n)", "count"),
                "nps": Col("NPS", "nps"),
                "nps_responses": Col("NPS (n)", "count"),
                "low n": Col("low n", help=f"Figures of this agent made from fewer than {common.min_n()} replies."),
                "agent": Col("id"),
            },
        )

    st.subheader("Replies that could not be parsed")
    found = common.rows("survey_replies_not_parsed", descending=True, limit=500, extra=("reply_text",))
    unparsed = found.frame.select(
        pl.col("local_time").alias("received"),
        "survey",
        "parse_status",
        "reply_text",
        "score",
        pl.col("agent_id").alias("agent"),
        pl.col("line_number").alias("line"),
        "contact_number",
    )
    if unparsed.is_empty():
        common.empty("Every survey reply in this selection parsed as a score.")
    else:
        statuses = ["out_of_range", "ambiguous", "not_a_number", "empty"]
        counts = common.metrics([f"survey_replies_{s}" for s in [*statuses, "opt_out"]]).row(0, named=True)
        st.caption(
            f"Not counted in CSAT or NPS (newest first, {unparsed.height:,} of {found.total:,} shown): "
            + ", ".join(f"{s.replace('_', ' ')} {counts[f'survey_replies_{s}']:,}" for s in statuses)
            + ". Out-of-range scores show the number as parsed. Opt-outs (STOP answering a survey, "
            f"{counts['survey_replies_opt_out']:,}) are their own status, never scores and not listed here."
        )
        common.conversation_table(
            common.named(common.masked(unparsed, texts=("reply_text",))).select(
                "received", "survey", "parse_status", "reply_text", "score", "name", "line", "contact_number"
            ),
            "survey_replies_not_parsed",
            key="satisfaction-unparsed",
            ids=found.frame["conversation_id"].to_list(),
            columns={
                "received": Col("received", "time", pinned=True),
                "survey": Col("survey", width="small"),
                "parse_status": Col("read as"),
                "reply_text": Col("reply", width="large"),
                "score": Col("score", "count", width="small"),
                "name": Col("agent"),
                "line": Col("line"),
                "contact_number": Col("contact"),
            },
        )
        st.page_link(
            common.QUEUES_PAGE,
            label="Re-score them from the work queue",
            icon=":material/inbox:",
            query_params={"queue": "unparsed"},
        )

    st.subheader("Testimonials bank")
    st.caption(
        f"High scores (CSAT ≥ {scale.satisfied_at_least}, NPS ≥ 9) where the customer wrote more than the "
        "number, for marketing (the guide banks positive feedback). Ask the customer before quoting them "
        "publicly. Card numbers and SSNs are masked."
    )
    banked = common.rows("testimonial_replies", descending=True, limit=None, extra=("reply_text",)).frame
    testimonials = banked.select(
        pl.col("local_time").alias("received"),
        "survey",
        "score",
        "reply_text",
        pl.col("agent_id").alias("agent"),
        pl.col("line_number").alias("line"),
        "contact_number",
    )
    if testimonials.is_empty():
        common.empty("No high-score replies with words for these filters.")
    else:
        common.conversation_table(
            common.named(common.masked(testimonials, texts=("reply_text",))).select(
                "received", "survey", "score", "reply_text", "name", "line", "contact_number"
            ),
            "testimonials",
            key="satisfaction-testimonials",
            ids=banked["conversation_id"].to_list(),
            columns={
                "received": Col("received", "time", pinned=True),
                "survey": Col("survey", width="small"),
                "score": Col("score", "count", width="small"),
                "reply_text": Col("reply", width="large"),
                "name": Col("agent"),
                "line": Col("line"),
                "contact_number": Col("contact"),
            },
        )
