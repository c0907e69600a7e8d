"""OKRs (managers): each objective's progress against what is expected by now, and its key results."""

from datetime import date

import polars as pl
import streamlit as st

from charts import figures
from charts.theme import STATUS_COLOURS
from metrics import okr
from pages import common


@st.cache_data(ttl=common.CACHE_TTL, show_spinner=False)
def _evaluate(version: str, files_stamp: tuple, as_of: date | None) -> tuple[list[dict], list[str], list[str]]:
    """Evaluate every valid period; problems come back as text so one bad file never hides the rest."""
    con = common.cursor()
    periods, problems = okr.load_definitions(okr.DEFINITIONS_DIR, known=con)
    errors = [str(p) for p in problems if p.severity == "error"]
    warnings = [str(p) for p in problems if p.severity != "error"]
    results = []
    for period in periods:
        objectives = okr.evaluate(con, period, common.settings(), as_of, with_history=True)
        results.append(
            {
                "period": period.period,
                "start": period.start,
                "end": period.end,
                "owner": period.owner,
                "objectives": [o.as_dict() for o in objectives],
            }
        )
    return results, errors, warnings


def _files_stamp() -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns) for p in okr.definition_files(okr.DEFINITIONS_DIR))


def _badge(status: str) -> str:
    return f":{'green' if status in ('on track', 'done') else 'orange' if status == 'at risk' else 'red' if status == 'off track' else 'gray'}-badge[{status}]"


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
    results, errors, warnings = _evaluate(common.data_version(), _files_stamp(), None)
    for problem in errors:
        st.error(f"Definition problem: {problem}")
    for problem in warnings:
        st.warning(problem)
    if not results:
        common.empty("No valid OKR definitions. Add a file to okr_definitions/ (see the README).")
    labels = [f"{r['period']} ({r['start']} to {r['end']})" for r in results]
    if results:
        choice = st.selectbox(
            "Period", range(len(results)), format_func=lambda i: labels[i], index=len(results) - 1, key="okr_period"
        )
        period = results[choice]
        for objective in period["objectives"]:
            with st.container(border=True):
                head, badge = st.columns([5, 1])
                head.subheader(objective["title"])
                badge.markdown(_badge(objective["status"]))
                st.caption(
                    f"Owner {objective.get('owner') or period['owner']} · as of {objective['as_of']} · "
                    f"grade {objective['grade'] if objective['grade'] is not None else '–'}"
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
                            "current": _value(kr, "current"),
                            "target": ("≥ " if kr.get("comparator") == "gte" else "≤ " if kr.get("comparator") else "")
                            + _value(kr, "target")
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
                manual = [kr for kr in objective["key_results"] if kr.get("type") == "manual" and kr.get("checkins")]
                for kr in manual:
                    with st.expander(f"Check-ins: {kr['title']}"):
                        st.dataframe(pl.DataFrame(kr["checkins"], strict=False), hide_index=True)
        st.caption("Status colours: " + ", ".join(f"{s}" for s in STATUS_COLOURS if s in okr.STATUSES))
