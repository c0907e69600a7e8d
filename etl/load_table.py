"""A load report as the text table `python -m etl load` and `python -m etl sync` print."""

from __future__ import annotations

from pathlib import Path

from etl.load import LoadReport


def load_table(report: LoadReport) -> str:
    """One row per file (read, loaded, updated, rejected, duplicate rows) and a total; under it, for each file
    with times written without a UTC offset, how many rows were read as the team's local time, and the run's
    notes."""
    head = ("file", "kind", "read", "loaded", "updated", "rejected", "duplicate")
    rows: list[tuple[str | int, ...]] = [
        (Path(f.path).name, f.kind, f.rows_read, f.rows_loaded, f.rows_updated, f.rows_rejected, f.rows_duplicate)
        for f in report.files
    ]
    rows.append(
        (
            "total",
            "",
            *(report.total(k) for k in ("rows_read", "rows_loaded", "rows_updated", "rows_rejected", "rows_duplicate")),
        )
    )
    cells = [[f"{c:,}" if isinstance(c, int) else str(c) for c in r] for r in [head, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if n == 0 or n == len(cells) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines.extend(f"note: {note}" for note in report.notes)  # settings that changed since the last load
    return "\n".join([*lines, *local_time_notes(report)])


def local_time_notes(report: LoadReport) -> list[str]:
    """A line per file that had times without a UTC offset: how many, the zone they were read in, and how many
    fell in the hour a fall-back repeats."""
    notes = []
    for f in report.files:
        if f.rows_local_time:
            twice = (
                f"; {f.rows_ambiguous_time:,} at a time the clocks went through twice (the first one taken)"
                if f.rows_ambiguous_time
                else ""
            )
            notes.append(
                f"{Path(f.path).name}: {f.rows_local_time:,} rows had no UTC offset and were read as {f.local_timezone} "
                f"local time{twice}"
            )
    return notes
