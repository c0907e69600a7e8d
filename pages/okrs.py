"""OKRs (managers): each objective's progress against what is expected by now, and its key results."""

from datetime import date

import polars as pl
import streamlit as st

from charts import figures
from charts.theme import STATUS_COLOURS
from metrics import okr
from metrics.annotations import checkins_for
from pages import annotating, common
from replyboard.appstate import AppStateError


@st.cache_data(ttl=common.CACHE_TTL, show_spinner=False)
def _evaluate(
    version: str, files_stamp: tuple, as_of: date | None, store: tuple[str, int, int]
) -> tuple[list[dict], list[str], list[str], int]:
    """Evaluate every valid period; problems come back as text so one bad file never hides the rest. The store's
    revision is part of the key: a check-in or an annotation from any session is counted on the next rerun. The
    last value is the index of the period to show first: the one holding the data's last day."""
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
        objectives = okr.evaluate(con, with_store, common.settings(), as_of, with_history=True, overlay=overlay)
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


_COMPARATOR_SIGNS = {"gte": "≥ ", "gt": "> ", "lte": "≤ ", "lt": "< "}


def _files_stamp() -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns) for p in okr.definition_files(okr.DEFINITIONS_DIR))


def _badge(status: str) -> str:
    return f":{'green' if status in ('on track', 'done') else 'orange' if status == 'at risk' else 'red' if status == 'off track' else 'gray'}-badge[{status}]"


def _as_of_note(objective: dict) -> str:
    """Why the as-of day is what it is: the data's last day caps it; a period the data misses says so."""
    if objective["status"] == okr.NO_DATA_IN_PERIOD:
        through = objective.get("data_through")
        return f" · no data in this period (data {'through ' + str(through) if through else 'none loaded'})"
    if objective.get("data_through") and str(objective["as_of"]) == str(objective["data_through"]):
        return " · the data's last day"
    return ""


def _value(kr: dict, key: str) -> str:
    value = kr.get(key)
    if value is None:
        return "–"
    if kr.get("type") == "manual":
        return f"{value:.0%}" if isinstance(value, float) else str(value)
    metric = okr_metric_unit(kr.get("metric"))
    if metric == "ratio":
        return f"{value:.1%}"
    if metric == "seconds":
        return common.fmt_duration(value)
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


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
        st.dataframe(history, hide_index=True)
    mine = [r for r in entered if r.key_result_id == kr["id"]]
    if mine:
        st.caption("Entered on the dashboard (the others come from the YAML file):")
        st.dataframe(
            pl.DataFrame(
                [
                    {
                        "day": r.day,
                        "progress": r.value,
                        "confidence": r.confidence,
                        "comment": r.note,
                        "by": r.author,
                        "entered": annotating.local(r.created_at),
                    }
                    for r in reversed(mine)
                ]
            ),
            hide_index=True,
            column_config={
                "progress": st.column_config.NumberColumn(format="percent"),
                "confidence": st.column_config.NumberColumn(format="percent"),
            },
        )


def okr_metric_unit(name: str | None) -> str | None:
    from metrics.registry import METRICS

    return METRICS[name].unit if name in METRICS else None


st.title("OKRs")
st.caption(
    "Objectives and key results from `okr_definitions/*.yaml`, measured live on the warehouse. "
    "Progress = (current − baseline) ÷ (target − baseline), clamped to 0–1; the dashed line is the share "
    "of the period elapsed."
)
if common.require_data():
    annotating.feedback()
    if message := st.session_state.pop(CHECKIN_ERROR, None):
        st.error(f"Check-in not saved: {message}")
    results, errors, warnings, default = _evaluate(common.data_version(), _files_stamp(), None, common.store_key())
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
        st.caption(f"{period['start']} to {period['end']}")
        entered = common.checkins(period["period"])
        for objective in period["objectives"]:
            with st.container(border=True):
                head, badge = st.columns([5, 1])
                head.subheader(objective["title"])
                badge.markdown(_badge(objective["status"]))
                st.caption(
                    f"Owner {objective.get('owner') or period['owner']} · as of {objective['as_of']}"
                    f"{_as_of_note(objective)} · grade {objective['grade'] if objective['grade'] is not None else '–'}"
                )
                common.show_figure(
                    figures.okr_progress(objective["progress"], objective["expected_progress"], objective["status"]),
                    key=f"okr-{period['period']}-{objective['id']}",
                )
                rows = []
                for kr in objective["key_results"]:
                    history = [p["value"] if isinstance(p, dict) else p[1] for p in (kr.get("history") or [])]
                    rows.append(
                        {
                            "key result": kr["title"],
                            "status": kr["status"],
                            "current": _value(kr, "current") + (" (low n)" if kr.get("low_n") else ""),
                            "target": _COMPARATOR_SIGNS.get(kr.get("comparator") or "", "") + _value(kr, "target")
                            if kr.get("type") != "manual"
                            else "done",
                            "baseline": _value(kr, "baseline"),
                            "n": kr.get("n"),
                            "progress": kr.get("progress"),
                            "expected": kr.get("expected_progress"),
                            "weekly trend": [v for v in history if v is not None],
                        }
                    )
                frame = pl.DataFrame(rows, strict=False)
                st.dataframe(
                    frame,
                    hide_index=True,
                    column_config={
                        "progress": st.column_config.ProgressColumn(
                            "progress", min_value=0, max_value=1, format="percent"
                        ),
                        "expected": st.column_config.NumberColumn("expected by now", format="percent"),
                        "weekly trend": st.column_config.LineChartColumn("weekly trend"),
                    },
                )
                common.download_csv(
                    frame.drop("weekly trend"),
                    f"okr-{objective['id']}",
                    key=f"dl-okr-{period['period']}-{objective['id']}",
                )
                manual = [kr for kr in objective["key_results"] if kr.get("type") == "manual"]
                for kr in manual:
                    with st.expander(f"Check-ins: {kr['title']}"):
                        checkin_history(period, kr, entered)
                        checkin_form(period, kr)
        st.caption("Status colours: " + ", ".join(f"{s}" for s in STATUS_COLOURS if s in okr.STATUSES))
