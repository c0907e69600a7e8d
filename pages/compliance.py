"""Compliance: messages holding payment card numbers or SSNs (masked), by agent and by direction."""

import polars as pl
import streamlit as st

from charts import figures
from charts.figures import Drill
from pages import common

st.title("Compliance")
st.markdown(
    "**The SOP rule: never ask for or accept payment data by text.** SMS is not a secure channel: a card "
    "number or a Social Security number sent by text stays on both phones and in every export. Agents send the "
    "secure payment link instead, and when a customer texts such data anyway, they tell the customer it will "
    "not be used by text and ask them to use the link.\n\n"
    "A message is flagged when its body held a 13-19 digit card number that passes the Luhn check (in groups "
    "split by spaces, dots, dashes or line breaks, several in one text), or a US SSN (ddd-dd-dddd with the invalid "
    "ranges excluded). Replyboard never stores them in clear: they are redacted when a file is loaded, down to "
    "their last four digits (with expiry dates and security codes next to a card), and what was found is kept "
    "with the message, so this page still counts them."
)
if common.require_data():
    f = common.filters()
    if f.agents or f.teams:
        st.caption(
            "Agent and team filters select by owner: a reply by its sender, a customer's text by its conversation's "
            "owner."
        )
    overall = common.metrics(["sensitive_data_messages", "sensitive_data_open"]).row(0, named=True)
    total = overall["sensitive_data_messages"]
    by_direction = common.metrics(["sensitive_data_messages"], by="direction")
    cols = st.columns(4)
    common.kpi(
        cols[0],
        "Messages with sensitive data",
        common.fmt_number(total),
        "sensitive_data_messages",
        total,
        help="Metric: `sensitive_data_messages` (dates on the message time).",
    )
    for col, direction, label in ((cols[1], "inbound", "From customers"), (cols[2], "outbound", "Sent by us")):
        n = int(by_direction.filter(pl.col("direction") == direction)["sensitive_data_messages"].sum())
        common.kpi(col, label, common.fmt_number(n), "sensitive_data_messages", n, where={"direction": direction})
    with cols[3]:
        st.metric(
            "Not handled yet",
            common.fmt_number(overall["sensitive_data_open"]),
            help="Metric: `sensitive_data_open`: hits no lead has marked handled (in the conversation viewer).",
        )
        st.page_link(
            common.QUEUES_PAGE,
            label="the compliance queue",
            icon=":material/inbox:",
            query_params={"queue": "compliance"},
        )
    if not total:
        common.empty("No messages with card numbers or SSNs for these filters.")
    else:
        by_agent = common.metrics(["sensitive_data_messages"], by="agent").filter(pl.col("sensitive_data_messages") > 0)
        by_agent = common.named(by_agent)
        left, right = st.columns([3, 2])
        with left:
            common.show_figure(
                figures.bars(
                    by_agent.sort("sensitive_data_messages"),
                    x="name",
                    y="sensitive_data_messages",
                    horizontal=True,
                    y_title="messages",
                    title="Messages with sensitive data by agent",
                    drill=Drill.of(groups={"agent": "agent"}),
                )
            )
        with right:
            st.markdown("**By direction**")
            common.drill_table(
                by_direction.select("direction", "sensitive_data_messages"),
                "sensitive_by_direction",
                key="compliance-direction",
                groups={"direction": "direction"},
                metrics={},
                default="sensitive_data_messages",
                columns={
                    "direction": common.Col("direction"),
                    "sensitive_data_messages": common.Col("messages", "count"),
                },
            )
            st.markdown("**By agent**")
            common.drill_table(
                by_agent.select("name", "team", "sensitive_data_messages", "agent"),
                "sensitive_by_agent",
                key="compliance-agent",
                groups={"agent": "agent"},
                metrics={},
                default="sensitive_data_messages",
                columns={
                    "name": common.Col("agent"),
                    "team": common.Col("team"),
                    "sensitive_data_messages": common.Col("messages", "count"),
                    "agent": common.Col("id"),
                },
            )

        st.subheader("Messages")
        found = common.rows("sensitive_data_messages", descending=True, limit=1000, extra=("body", "handled"))
        messages = found.frame.select(
            pl.col("local_time").alias("sent"),
            "direction",
            pl.col("sensitive").alias("found"),
            "handled",
            "body",
            pl.col("agent_id").alias("agent"),
            pl.col("line_number").alias("line"),
            "contact_number",
            "kind",
        )
        st.caption(
            "Newest first, at most 1,000. Bodies as stored (redacted at load), contact numbers masked. Select a "
            "message to read its conversation and mark the hit handled."
        )
        common.conversation_table(
            common.named(common.masked(messages, texts=("body",))).select(
                "sent", "direction", "found", "handled", "body", "name", "line", "contact_number", "kind"
            ),
            "sensitive_messages",
            key="compliance-messages",
            ids=found.frame["conversation_id"].to_list(),
            columns={
                "sent": common.Col("sent", "time", pinned=True),
                "direction": common.Col("direction", width="small"),
                "found": common.Col("found", width="small"),
                "handled": common.Col("handled", width="small"),
                "body": common.Col("message (masked)", width=300),
                "name": common.Col("agent"),
                "line": common.Col("line"),
                "contact_number": common.Col("contact"),
            },
        )
