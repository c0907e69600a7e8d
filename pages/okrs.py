"""OKRs (managers): each objective's progress against what is expected by now, and its key results, one row each:
the title in full, its status in colour, current against target and baseline with the weekly trend, progress
against expected, and how it is scored."""

from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from charts import figures, theme
from metrics import okr, view_query
from metrics.annotations import checkins_for
from metrics.okr import text as okr_text
from metrics.scope import Scope
from pages import annotating, common
from replyboard import formats
from replyboard.appstate import AppStateError


@common.cached
def _evaluate(
    version: str, files_stamp: tuple, as_of: date | None, store: tuple[str, int, int], scope: Scope
) -> tuple[list[dict], list[str], list[str], int]:
    """Evaluate every valid period in the person's scope (a lead's key results count their teams); problems come
    back as text so one bad file never hides the rest. The store's revision is part of the key: a check-in or an
    annotation from any session is counted on the next rerun. The last value is the index of the period to show
    first: the one holding the data's last day."""
    con = common.cursor()
    periods, problems = okr.load_definitions(okr.DEFINITIONS_DIR, known=con)
    first = okr.default_period(periods, okr.data_days(con)[1], common.settings())
    default = periods.index(first) if first is not None else max(len(periods) - 1, 0)
    errors = [str(p) for p in problems if p.severity == "error"]
    warnings = [str(p) for p in problems if p.severity != "error"]
    overlay = common.overlay()
    results = []
    for period in periods:
        # check-ins entered on the dashboard (the store) count with the YAML's
        with_store = okr.with_checkins(period, checkins_for(common.db_path(), period.period))
        objectives = okr.evaluate(
            con, with_store, common.settings(), as_of, with_history=True, overlay=overlay, scope=scope
        )
        results.append(
            {
                "period": period.period,
                "start": period.start,
                "end": period.end,
                "owner": period.owner,
                "objectives": [o.as_dict() for o in objectives],
            }
        )
    return results, errors, warnings, default


def _files_stamp() -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns) for p in okr.definition_files(okr.DEFINITIONS_DIR))


def _as_of_note(objective: dict) -> str:
    """Why the as-of day is what it is: the data's last day caps it; a period the data misses says so."""
    if objective["status"] == okr.NO_DATA_IN_PERIOD:
        through = objective.get("data_through")
        day = formats.fmt_day(date.fromisoformat(str(through))) if through else None
        return f" · no data in this period (data {'through ' + day if day else 'none loaded'})"
    if objective.get("data_through") and str(objective["as_of"]) == str(objective["data_through"]):
        return " · the data's last day"
    return ""


def _value(kr: dict, key: str) -> str:
    """A key result's figure as every page writes it (metrics.okr.text); manual ones are a share done."""
    return okr_text.value_text(kr.get("type") or "", kr.get("metric"), kr.get("unit"), kr.get(key))


def _target(kr: dict) -> str:
    return okr_text.target_text(
        kr.get("type") or "", kr.get("metric"), kr.get("unit"), kr.get("comparator") or "", kr["target"]
    )


def _scoring(kr: dict) -> str:
    """How the key result is scored, in words: the pass/fail rule of a baseline that already meets the target
    lives here, not only in the YAML's comments."""
    if kr.get("type") == "manual":
        kind = "done or not done" if kr.get("unit") == "done" else "the share done"
        return f"Manual: the latest check-in on or before the as-of day ({kind})."
    target, baseline = _target(kr), _value(kr, "baseline")
    where = "set in the definition" if kr.get("baseline_source") == "given" else "the same number of days before"
    if kr.get("scoring") == "pass_fail":
        if kr.get("baseline") is None:
            why = "no baseline could be measured (no data before the period)"
        else:
            why = f"its baseline ({baseline}, {where}) already meets the target"
        return f"Pass/fail, because {why}: progress is 100% while the current value is {target}, else 0%."
    return f"Progress runs from the baseline ({baseline}, {where}) to the target ({target})."


def _measured(kr: dict) -> str:
    if kr.get("type") == "manual":
        return f"{kr.get('n') or 0:,} check-ins"
    parts = [f"`{kr['metric']}`", f"{kr.get('hours')} hours", kr.get("window") or "period"]
    if kr.get("filters"):
        parts.append(", ".join(f"{k}: {'/'.join(v)}" for k, v in kr["filters"].items()))
    return " · ".join(parts) + f" · n = {kr.get('n') or 0:,}"


def key_result_row(kr: dict) -> None:
    """One key result: title and how it is measured | status | current (weekly trend) vs target | progress."""
    title, status, current, progress = st.columns([5, 1.5, 3, 3], vertical_alignment="top")
    with title:
        st.markdown(f"**{kr['title']}**")
        st.caption(f"{_measured(kr)}. {_scoring(kr)}")
    status.markdown(theme.status_badge(kr["status"]))
    history = [p["value"] if isinstance(p, dict) else p[1] for p in (kr.get("history") or [])]
    trend = [v for v in history if v is not None]
    current.metric(
        kr["title"],
        _value(kr, "current") + (" (low n)" if kr.get("low_n") else ""),
        label_visibility="collapsed",
        chart_data=trend if len(trend) > 1 else None,
        chart_type="line",
        delta_color=theme.status_style("no data").streamlit if not trend else "blue",
        help="The line: the value at the end of each week since the period started.",
    )
    current.caption(
        f"target {_target(kr)}" + (f" · baseline {_value(kr, 'baseline')}" if kr.get("type") != "manual" else "")
    )
    if kr.get("type") == "metric" and kr.get("window_start") and kr.get("window_end"):
        with current:
            _key_result_rows_link(kr)
    with progress:
        value = kr.get("progress")
        st.progress(min(max(value or 0.0, 0.0), 1.0))
        st.caption(
            f"progress {formats.fmt_rate(value, 0)} · expected by now {formats.fmt_rate(kr['expected_progress'], 0)}"
        )


def _key_result_rows_link(kr: dict) -> None:
    """The rows behind a key result's current value: its metric over its own window, filters and hours (the
    sidebar of the rows page set to them)."""
    window = (date.fromisoformat(str(kr["window_start"])), date.fromisoformat(str(kr["window_end"])))
    view = view_query.key_result_view(window, kr.get("filters") or {}, kr.get("hours"), common.view_labels())
    query: dict[str, Any] = view_query.present(view)  # st.page_link takes each value as text or a list of it
    label = f"n = {kr['n']:,} · see rows" if kr.get("n") is not None else "see rows"
    st.page_link(
        common.ROWS_PAGE,
        label=label,
        icon=":material/table_rows:",
        query_params={**common.rows_query(kr["metric"]), **query},
    )


def _csv_rows(objective: dict) -> pl.DataFrame:
    """The key results as numbers: each value in the unit its row names (a share in percent, a duration in
    minutes), progress and expected in percent; never text like "15.4%" beside 0.160847."""

    def number(kr: dict, value: float | None) -> float | None:
        if value is None:
            return None
        unit = "ratio" if kr.get("type") == "manual" else okr_text.metric_unit(kr.get("metric"))
        scaled = value * 100 if unit == "ratio" else value / 60 if unit == "seconds" else value
        return round(float(scaled), 2)

    names = {"ratio": "percent", "seconds": "minutes"}
    return pl.DataFrame(
        [
            {
                "key_result": kr["id"],
                "title": kr["title"],
                "status": kr["status"],
                "metric": kr.get("metric") or "manual",
                "unit": "percent"
                if kr.get("type") == "manual"
                else names.get(okr_text.metric_unit(kr.get("metric")) or "", okr_text.metric_unit(kr.get("metric"))),
                "comparator": kr.get("comparator"),
                "current": number(kr, kr.get("current")),
                "target": number(kr, kr.get("target")),
                "baseline": number(kr, kr.get("baseline")) if kr.get("type") != "manual" else None,
                "n": kr.get("n"),
                "low_n": bool(kr.get("low_n")),
                "progress_pct": None if kr.get("progress") is None else round(kr["progress"] * 100, 1),
                "expected_pct": round(kr["expected_progress"] * 100, 1),
                "scoring": kr.get("scoring"),
            }
            for kr in objective["key_results"]
        ],
        strict=False,
    )


CHECKIN_ERROR = "okr_checkin_error"


def _save_checkin(period: str, kr_id: str, kind: str, key: str) -> None:
    state = st.session_state
    value = (1.0 if state.get(f"{key}-done") else 0.0) if kind == "done" else state.get(f"{key}-progress", 0) / 100
    try:
        common.add_checkin(
            period,
            kr_id,
            state.get(f"{key}-day") or date.today(),
            float(value),
            confidence=state.get(f"{key}-confidence", 70) / 100,
            note=(state.get(f"{key}-note") or "").strip(),
        )
    except AppStateError as exc:
        state[CHECKIN_ERROR] = str(exc)
        return
    state[annotating.DONE_KEY] = "Check-in saved"


def checkin_form(period: dict, kr: dict) -> None:
    """Record a manual key result's progress, confidence and comment in the app-state store."""
    key = f"checkin-{period['period']}-{kr['id']}"
    start, end = period["start"], period["end"]
    with st.form(key, border=False):
        day, progress, confidence = st.columns(3)
        day.date_input(
            "Day", value=min(max(date.today(), start), end), min_value=start, max_value=end, key=f"{key}-day"
        )
        if kr.get("unit") == "done":
            progress.checkbox("Done", key=f"{key}-done")
        else:
            last = round((kr.get("current") or 0) * 100)
            progress.slider("Progress (%)", 0, 100, value=last, step=5, key=f"{key}-progress")
        confidence.slider("Confidence (%)", 0, 100, value=70, step=5, key=f"{key}-confidence")
        st.text_input("Comment", key=f"{key}-note", placeholder="what changed since the last check-in")
        st.form_submit_button(
            "Save check-in",
            type="primary",
            key=f"{key}-save",
            on_click=_save_checkin,
            args=(period["period"], kr["id"], kr["unit"], key),
        )


def checkin_history(period: dict, kr: dict, entered: list) -> None:
    history = pl.DataFrame(kr.get("checkins") or [], strict=False)
    if history.is_empty():
        st.caption("No check-ins yet.")
    else:
        common.table(
            history,
            f"checkins-{period['period']}-{kr['id']}",
            columns={
                "date": common.Col("day", "day"),
                "value": common.Col("progress", "ratio"),
                "confidence": common.Col("confidence", "ratio"),
                "note": common.Col("note", width="large"),
            },
        )
    mine = [r for r in entered if r.key_result_id == kr["id"]]
    if mine:
        st.caption("Entered on the dashboard (the others come from the YAML file):")
        st.dataframe(
            pl.DataFrame(
                [
                    {
                        "day": r.day,
                        "progress": r.value * 100,
                        "confidence": None if r.confidence is None else r.confidence * 100,
                        "comment": r.note,
                        "by": r.author,
                        "entered": annotating.local(r.created_at),
                    }
                    for r in reversed(mine)
                ]
            ),
            hide_index=True,
            placeholder=formats.DASH,
            column_config={
                "progress": st.column_config.NumberColumn(format="%.0f%%"),
                "confidence": st.column_config.NumberColumn(format="%.0f%%"),
            },
        )


st.title("OKRs")
st.caption(
    "Objectives and key results from `okr_definitions/*.yaml`, measured live on the warehouse. "
    "Progress = (current − baseline) ÷ (target − baseline), clamped to 0–1; the dashed line is the share "
    "of the period elapsed. **The sidebar's filters do not apply here**: each key result is measured over its "
    "own window (the period so far, or the rolling days its definition names), with the filters its definition "
    "sets."
)
st.markdown("Status: " + theme.status_legend())
if common.require_data():
    annotating.feedback()
    if message := st.session_state.pop(CHECKIN_ERROR, None):
        st.error(f"Check-in not saved: {message}")
    results, errors, warnings, default = _evaluate(
        common.data_version(), _files_stamp(), None, common.store_key(), common.scope()
    )
    for problem in errors:
        st.error(f"Definition problem: {problem}")
    for problem in warnings:
        st.warning(problem)
    if not results:
        common.empty("No valid OKR definitions. Add a file to okr_definitions/ (see the README).")
    if results:
        by_id = {r["period"]: r for r in results}
        choice = st.selectbox(
            "Period",
            list(by_id),
            index=default,  # the period holding the data's last day
            key="okr_period",
            bind="query-params",  # the period is part of the URL: a link opens the same period
        )
        period = by_id[choice or results[default]["period"]]
        start, end = date.fromisoformat(str(period["start"])), date.fromisoformat(str(period["end"]))
        st.caption(f"{formats.fmt_days(start, end)}, {end.year}")
        entered = common.checkins(period["period"])
        for objective in period["objectives"]:
            with st.container(border=True):
                head, badge = st.columns([5, 1])
                head.subheader(objective["title"])
                badge.markdown(theme.status_badge(objective["status"]))
                st.caption(
                    f"Owner {objective.get('owner') or period['owner']} · as of "
                    f"{formats.fmt_day(date.fromisoformat(str(objective['as_of'])))}{_as_of_note(objective)} · progress "
                    f"{formats.fmt_rate(objective['progress'], 0)} · grade "
                    f"{objective['grade'] if objective['grade'] is not None else formats.DASH}"
                )
                common.show_figure(
                    figures.okr_progress(objective["progress"], objective["expected_progress"], objective["status"]),
                    key=f"okr-{period['period']}-{objective['id']}",
                )
                for kr in objective["key_results"]:
                    key_result_row(kr)
                common.download_csv(
                    _csv_rows(objective),
                    f"okr-{objective['id']}",
                    key=f"dl-okr-{period['period']}-{objective['id']}",
                )
                manual = [kr for kr in objective["key_results"] if kr.get("type") == "manual"]
                for kr in manual:
                    with st.expander(f"Check-ins: {kr['title']}"):
                        checkin_history(period, kr, entered)
                        if common.may_annotate():
                            checkin_form(period, kr)
