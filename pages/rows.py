"""Rows: what is behind a number. The URL (metric, where=DIM=VALUE repeated, order, desc, page, size, and the
sidebar's filters) reproduces the view; every row opens its conversation."""

from __future__ import annotations

import math

import polars as pl
import streamlit as st

from metrics.compiler import CompileError
from metrics.explain import definition
from metrics.query import WEEKDAY_NAMES
from metrics.registry import CATALOG, METRICS
from metrics.rows import MAX_PAGE, parse_where
from pages import common

PAGE_SIZES = (50, 100, 500)
VALUE_LABELS = {
    "seconds": "reply time",
    "waiting_seconds": "waiting",
    "score": "score",
    "span": "typing",
    "messages": "messages",
}
HIDDEN = ("started_at", "created_at", "received_at", "t")  # UTC copies of local_time
DURATIONS = {"seconds", "waiting_seconds", "span"}


def _float(name: str) -> float | None:
    text = st.query_params.get(name)
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        st.warning(f"{name}={text!r} in the link is not a number; ignored.")
        return None


def group_text(where: dict[str, object]) -> str:
    names = common.filter_options().agents
    labels = common.line_labels()
    parts = []
    for dim, value in where.items():
        shown = "none" if value is None else value
        if dim == "agent" and value is not None:
            shown = names.get(str(value), value)
        elif dim == "line" and value is not None:
            shown = labels.get(str(value), value)
        elif dim == "weekday" and isinstance(value, int):
            shown = WEEKDAY_NAMES[value - 1]
        parts.append(f"{dim} = **{shown}**")
    return " · ".join(parts)


def shaped(frame: pl.DataFrame, value_column: str | None) -> pl.DataFrame:
    """The rows as a lead reads them: local time first, the row's own value as a duration next to its number,
    lines by name, agents with their names; UTC copies dropped."""
    out = frame.rename({"line_number": "line", "agent_id": "agent"}, strict=False)
    first: list[str] = [c for c in ("local_time", "first_local_time") if c in out.columns]
    if value_column and value_column in out.columns:
        label = VALUE_LABELS.get(value_column, value_column)
        if value_column in DURATIONS:
            out = out.with_columns(
                pl.col(value_column).map_elements(common.fmt_duration, return_dtype=pl.String).alias(label)
            )
            first += [label, value_column]
        else:
            out = out.rename({value_column: label})
            first.append(label)
    if "counted" in out.columns:
        first.append("counted")
    rest = [c for c in out.columns if c not in first and c not in HIDDEN]
    return out.select(*first, *rest)


def lead_columns(found) -> list[str]:
    """What a row is read by: its time, its own value, whether it counts."""
    value = found.value_column
    label = VALUE_LABELS.get(value or "", value or "")
    return ["local_time", "first_local_time", label, value or "", "counted", "name"]


def sort_label(metric: str, order: str, desc: bool) -> str:
    value = METRICS[metric].value_column
    if order == "value" and value:
        what = VALUE_LABELS.get(value, value)
        return f"by {what}, {'largest' if desc else 'smallest'} first"
    return "newest first" if desc else "oldest first"


st.title("Rows behind a number")
if common.require_data():
    metric = st.selectbox(
        "Metric",
        list(CATALOG),
        index=None,
        key="metric",
        bind="query-params",
        placeholder="Choose a metric",
        help="Every number on the dashboard links here with its metric, its group and the sidebar's filters.",
    )
    if metric is None:
        st.info("Choose a metric, or click any figure on another page: its rows open here.")
    else:
        try:
            where = parse_where(st.query_params.get_all("where"))
        except CompileError as exc:
            st.warning(f"The link's group is not valid ({exc}); showing every group.")
            where = {}
        if isinstance(where.get("line"), str):
            where["line"] = common.line_number_of(str(where["line"]))
        target = _float("target")
        value_range = (_float("min"), _float("max"))
        everyone = st.query_params.get("all_agents") == "1"
        f = common.without_agent_filters() if everyone else common.filters()
        p = common.params(target)
        info = CATALOG[metric]
        try:
            value = common.metrics([metric], f=f, p=p, where=where or None).row(0, named=True)
        except CompileError as exc:
            st.warning(f"{exc}. Showing every group instead.")
            where = {}
            value = common.metrics([metric], f=f, p=p).row(0, named=True)
        head, definition_col = st.columns([2, 3])
        with head:
            shown = common.fmt_metric(metric, value[metric])
            n = value[f"{metric}_n"]
            flagged = common.flags_low_n(metric)  # a rate or score made from fewer than min_n rows says so
            st.metric(
                metric,
                common.low_n(shown, n) if flagged else shown,
                help=info.description + (common.low_n_help(n) if flagged else ""),
            )
            st.caption(
                f"n = {value[f'{metric}_n']:,} · {common.hours_label()}"
                + (f" · target {target:g} min" if target else "")
            )
            if where:
                st.markdown("Group: " + group_text(where))
            if value_range != (None, None):
                low, high = value_range
                st.markdown(
                    f"Only rows with a value from {common.fmt_duration(low) if low is not None else 'the lowest'} "
                    f"to below {common.fmt_duration(high) if high is not None else 'the highest'}"
                )
            if everyone:
                st.caption("Agent and team filters do not apply here: nobody has replied to these yet.")
            narrowed = bool(where) or value_range != (None, None)
            if narrowed and st.button("Show every group", icon=":material/filter_alt_off:"):
                for name in ("where", "min", "max"):
                    st.query_params.pop(name, None)
                st.rerun()
        with definition_col:
            st.markdown(f"**Definition.** {info.description}")
            with st.expander("How it is computed"):
                st.code("\n".join(definition(metric)), language=None, wrap_lines=True)

        controls = st.columns([2, 2, 2, 2])
        has_value = bool(METRICS[metric].value_column)
        order = controls[0].segmented_control(
            "Sort by",
            ["time", "value"] if has_value else ["time"],
            default="value" if has_value else "time",
            key="order",
            bind="query-params",
            required=True,
        )
        desc = controls[1].toggle("Largest / newest first", value=True, key="desc", bind="query-params")
        size = controls[2].selectbox("Rows per page", PAGE_SIZES, index=1, key="size", bind="query-params")
        try:
            found_total = common.rows(
                metric, where=where, f=f, p=p, limit=1, value_range=value_range, order=order or "time"
            ).total
        except CompileError as exc:
            st.warning(str(exc))
            found_total = 0
        pages = max(1, math.ceil(found_total / size))
        page = controls[3].number_input(
            f"Page (of {pages:,})",
            min_value=1,
            max_value=max(pages, 1),
            value=1,
            step=1,
            key="page",
            bind="query-params",
        )
        page = min(int(page or 1), pages)
        found = common.rows(
            metric,
            where=where,
            f=f,
            p=p,
            order=order or "time",
            descending=bool(desc),
            limit=size,
            offset=(page - 1) * size,
            value_range=value_range,
        )
        # what the viewer's "Back to the rows" link returns to
        st.session_state["last_rows_query"] = {
            k: (st.query_params.get_all(k) if k == "where" else v) for k, v in st.query_params.to_dict().items()
        }
        first_row = (page - 1) * size + 1 if found.total else 0
        st.markdown(
            f"**{found.total:,} {info.rows}** behind this number · rows {first_row:,}–"
            f"{(page - 1) * size + found.frame.height:,} · {sort_label(metric, order or 'time', bool(desc))}"
        )
        if found.frame.is_empty():
            common.empty("No rows behind this number for these filters.")
        else:
            table = common.readable(common.named(shaped(found.frame, found.value_column)), first=lead_columns(found))
            ids = found.frame["conversation_id"].to_list() if "conversation_id" in found.frame.columns else None
            label = VALUE_LABELS.get(found.value_column or "", found.value_column or "")
            common.conversation_table(
                table,
                f"rows_{metric}",
                key="rows-table",
                ids=ids,
                column_config={
                    "counted": st.column_config.CheckboxColumn(
                        "counted", help="Counts in the rate's numerator (met, within the target, satisfied...)"
                    ),
                    "contact_number": "contact",
                    "name": "agent",
                    "agent": "agent id",
                    **common.time_columns(
                        first_local_time="first",
                        last_local_time="last",
                        replied_at="replied",
                        deadline_at="same-day deadline",
                    ),
                    # what a row is read by stays in view while the other columns scroll
                    "local_time": st.column_config.DatetimeColumn("time", format=common.TIME_FORMAT, pinned=True),
                    **({label: st.column_config.Column(label, pinned=True)} if label else {}),
                    **({found.value_column: "seconds"} if found.value_column in DURATIONS else {}),
                },
            )
            capped = found.total > MAX_PAGE
            common.download_rows(
                f"Download every row (CSV{', the first ' + f'{MAX_PAGE:,}' if capped else ''} of {found.total:,})",
                metric,
                key="dl-all-rows",
                help=f"At most {MAX_PAGE:,} rows in one file: narrow the dates or pick a group for the rest.",
                where=where,
                order=order or "time",
                descending=bool(desc),
                f=f,
                p=p,
                value_range=value_range,
                extra=(),
                shape=lambda frame: shaped(frame, None),  # the CSV keeps the number (minutes), not its text
                first=lead_columns(found),
            )
