"""A load run: detect each file's kind, stage, validate, merge, derive, record; publish atomically."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from etl import canonical, derive, merge, ownership, validate, watchdog
from etl.sources import twilio_webhook
from etl.sources.base import Reject, SourceError, SourceFrame, storable
from replyboard import reply_gaps, warehouse, warm_cache
from replyboard.faults import checkpoint
from replyboard.files import NotARegularFile, check_regular
from replyboard.load_lock import heartbeat
from replyboard.sensitive import redact_reject
from replyboard.settings import DerivationSettings, ReadingSettings, Settings
from replyboard.warehouse import one, one_row

MESSAGE_STAGE = "rb_stage"
VALID = "rb_valid"


@dataclass
class FileReport:
    path: str
    kind: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_updated: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    # rows whose time had no UTC offset, read in local_timezone; of them, those at a fall-back hour that
    # happened twice (the first occurrence taken)
    rows_local_time: int = 0
    rows_ambiguous_time: int = 0
    local_timezone: str | None = None

    def discard(self, error: str) -> None:
        """The file failed and its rows were rolled back: nothing from it counts."""
        self.rows_read = self.rows_loaded = self.rows_updated = self.rows_rejected = self.rows_duplicate = 0
        self.rows_local_time = self.rows_ambiguous_time = 0
        self.notes = []
        self.error = error


@dataclass
class LoadReport:
    run_id: int | None = None
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # about the whole run: settings that changed since the last

    def total(self, key: str) -> int:
        return sum(getattr(f, key) for f in self.files)

    @property
    def errors(self) -> list[str]:
        return [f.error for f in self.files if f.error]

    def as_json(self) -> dict:
        keys = (
            "rows_read",
            "rows_loaded",
            "rows_updated",
            "rows_rejected",
            "rows_duplicate",
            "rows_local_time",
            "rows_ambiguous_time",
        )
        return {
            "run_id": self.run_id,
            **{k: self.total(k) for k in keys},
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
            "notes": self.notes,
            "files": [asdict(f) for f in self.files],
        }


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def detect_kind(path: Path) -> str:
    """The kind of file: a canonical CSV by its header, else a real export recognised by its content."""
    try:
        size = check_regular(path).st_size  # a FIFO or a device would block or never end: refused here
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a folder; pass the files inside it") from None
    except NotARegularFile as exc:
        raise SourceError(f"{path}: {exc.strerror}") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise SourceError(f"{path}: file is empty")
    from etl.sources import detect  # the adapters are optional at import time of this module

    kind = detect.detect_kind(path)
    if kind:
        return kind
    header = canonical.read_header(path)
    kind = canonical.detect_canonical(header)
    if kind:
        return kind
    raise SourceError(
        f"{path}: not a format Replyboard knows (expected a canonical messages/surveys/agents/lines CSV, "
        "an OpenPhone or Twilio export, an SMS Backup & Restore XML, or --source mapped_csv --mapping FILE)"
    )


def run_load(
    db: Path,
    paths: list[Path],
    settings: Settings,
    *,
    source: str | None = None,
    mapping: Path | None = None,
    progress: Progress = _quiet,
    wait: bool = True,
    before_publish: Callable[[duckdb.DuckDBPyConnection, LoadReport], None] | None = None,
    replace: bool = False,
    warm: bool = True,
) -> LoadReport:
    """Load `paths` into the warehouse `db` in one atomic run.

    before_publish(con, report) writes anything that must publish with the data (the API sync's state), in
    the same private copy, after the run is recorded. replace: a row whose id is stored for another message
    or survey reply overwrites it (else it is rejected), and empty cells in agents/lines files clear stored
    values (else they keep them). warm: once published, a background process computes every page's default
    view for the dashboard (replyboard.warm_cache; off with REPLYBOARD_NO_WARM=1).
    """
    report = LoadReport()
    started = time.perf_counter()
    budget = watchdog.file_budget()
    # a holder quiet for longer than a step may take (plus a minute of slack) is not making progress
    stuck_after = budget + 60 if budget else None
    with warehouse.writer(db, wait=wait, stuck_after=stuck_after) as con:
        (run_id,) = one_row(con, "SELECT nextval('etl_run_seq')")
        report.run_id = run_id
        con.execute(
            "INSERT INTO etl_runs (run_id, started_at, status, settings_key) VALUES (?, now(), 'running', ?)",
            [run_id, settings.derivation_key()],
        )
        merge.start_batch(con)
        owner_inputs = ownership.inputs(con)  # before any file: did this load change what owners depend on?
        surveys_changed = False
        for n, path in enumerate(paths, 1):
            file_report = FileReport(path=str(path), kind=source or "?")
            report.files.append(file_report)
            label = f"[{n}/{len(paths)}] {path.name}"
            heartbeat(f"reading {label}")
            surveys_changed |= _load_one(
                con, path, source, settings, run_id, file_report, mapping, budget, label, progress, replace
            )
        heartbeat("deriving")
        try:
            with watchdog.time_limit(budget, f"{db}: deriving this load's facts", con):
                _derive(con, report, settings, surveys_changed, progress, owner_inputs)
        except watchdog.StepTimeout as exc:
            raise warehouse.WarehouseError(
                f"{exc.what}: stopped after {exc.seconds:g} s ({watchdog.ENV}); the load was abandoned, "
                "the warehouse is unchanged"
            ) from None
        if before_publish is not None:
            before_publish(con, report)
        checkpoint("after_record")
        heartbeat("publishing")
    report.seconds = time.perf_counter() - started
    if warm:
        warm_cache.start_warmer(db)
    return report


def _load_one(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str | None,
    settings: Settings,
    run_id: int,
    fr: FileReport,
    mapping: Path | None,
    budget: float | None,
    label: str,
    progress: Progress,
    replace: bool = False,
) -> bool:
    """Detect, read, validate and merge one file in its own transaction and time budget.

    Whatever goes wrong with the file (a SourceError, a stalled step, any unexpected error while reading
    it) rolls its rows back and becomes its one error line; the other files load. Only failures of the
    warehouse itself (a full disk, a damaged file) and Ctrl-C end the whole load.
    """
    t0 = time.perf_counter()
    in_transaction = False
    try:
        with watchdog.time_limit(budget, str(path), con):
            fr.kind = source or detect_kind(path)
            progress(f"{label}: reading as {fr.kind}")
            staged = _stage_file(con, path, fr.kind, settings, fr, mapping)
            con.execute("BEGIN TRANSACTION")
            in_transaction = True
            surveys_changed = _merge_file(con, path, fr.kind, staged, settings, run_id, fr, replace)
        con.execute("COMMIT")
        in_transaction = False
    except (Exception, watchdog.StepTimeout) as exc:
        if in_transaction:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT may have ended the transaction already
                con.execute("ROLLBACK")
        _raise_if_fatal(exc)
        error = _file_error(path, exc)
        progress(f"{label}: skipped: {error}")
        fr.discard(error)
        return False
    progress(
        f"{label}: {fr.rows_read:,} rows read, {fr.rows_loaded:,} new, {fr.rows_updated:,} updated, "
        f"{fr.rows_rejected:,} rejected, {fr.rows_duplicate:,} duplicate ({time.perf_counter() - t0:.1f} s)"
    )
    return surveys_changed


def _raise_if_fatal(exc: BaseException) -> None:
    """Re-raise what is not about one file: the warehouse's own storage failing, or the user's Ctrl-C."""
    if isinstance(exc, duckdb.Error) and (
        isinstance(exc, duckdb.FatalException) or warehouse.storage_failure(exc) is not None
    ):
        raise exc
    if isinstance(exc, OSError) and exc.errno in warehouse.DISK_FULL:
        raise exc
    if isinstance(exc, RuntimeError) and str(exc) == "Query interrupted":
        # DuckDB's report of a signal during a query; the watchdog's own became a StepTimeout already
        raise KeyboardInterrupt from None


def _file_error(path: Path, exc: BaseException) -> str:
    """One line for the user: the reason for a SourceError or a timeout, else the unexpected error's type."""
    if isinstance(exc, SourceError | watchdog.StepTimeout):
        return storable(str(exc))
    detail = " ".join(storable(str(exc)).split())[:300] or "no details"
    return f"{path}: could not be read ({type(exc).__name__}: {detail}); nothing from it was loaded"


def _derive(
    con: duckdb.DuckDBPyConnection,
    report: LoadReport,
    settings: Settings,
    surveys_changed: bool,
    progress: Progress,
    owner_inputs: tuple,
) -> None:
    """Reference rows, then the facts of every line/contact pair the load changed (of every pair, when the
    derivation settings changed since the warehouse was derived), their owners, then the run's record.
    owner_inputs: ownership.inputs before the load's first file."""
    _fill_reference(con, settings)
    derivation = settings.derivation
    changed = _derivation_changes(con, derivation)
    _note_reading_changes(con, settings.reading, report, progress)
    rederive_all = bool(changed - RESCORE_ONLY)
    if changed:
        what = ", ".join(sorted(changed))
        note = f"derivation settings changed since the last load ({what}): " + (
            "re-derived every conversation" if rederive_all else "re-scored every survey reply"
        )
        report.notes.append(note)
        progress(note)
    if rederive_all:
        con.execute(f"INSERT INTO {merge.AFFECTED} SELECT DISTINCT line_number, contact_number FROM messages")
        # calls are not re-derived, but their local time is the team timezone's
        con.execute("UPDATE calls SET created_local = timezone(?, created_at)", [derivation.timezone])
    elif changed:
        derive.rescore_surveys(con, derivation)
    if not merge._exists(con, merge.CHANGED):  # no messages file in this load: no message changed
        # (the shape of messages, not of the last file's valid rows: a lines or surveys file has other columns)
        con.execute(
            f"CREATE TEMP TABLE {merge.CHANGED} AS SELECT * EXCLUDE ({', '.join(derive.NOT_LOADED_MESSAGE_COLUMNS)}), "
            "0::BIGINT AS source_line FROM messages LIMIT 0"
        )
    (pairs,) = one_row(con, f"SELECT count(DISTINCT (line_number, contact_number)) FROM {merge.AFFECTED}")
    if pairs:
        t0 = time.perf_counter()
        progress(f"deriving conversations and reply times for {pairs:,} line/contact pairs")
        derive.derive(con, derivation, merge.CHANGED, merge.AFFECTED, every_pair=rederive_all)
        checkpoint("after_derive")
        # per agent, across pairs: the gaps of the replies this run wrote (of every row when all was re-derived)
        reply_gaps.refresh(con, run_id=None if rederive_all else report.run_id)
        progress(f"derived in {time.perf_counter() - t0:.1f} s")
    if rederive_all:
        derive.link_file_surveys(con, derivation)
    elif pairs or surveys_changed:
        # only the contacts whose conversations or survey replies this load changed (derive.PAIRS: the pairs
        # it re-derived, those the load touched and those sharing a source conversation with them)
        derived = derive.PAIRS if pairs else merge.AFFECTED
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rb_survey_scope AS "
            f"SELECT contact_number FROM {derived} UNION SELECT contact_number FROM {merge.SURVEY_CONTACTS}"
        )
        derive.link_file_surveys(con, derivation, contacts="rb_survey_scope")
    # An agents or lines file (a team change) re-owns conversations without touching a message: every row then;
    # otherwise only the rows this load re-derived or re-linked can have another owner.
    if rederive_all or ownership.inputs(con) != owner_inputs:
        ownership.assign_owners(con)
    elif pairs or surveys_changed:
        ownership.assign_owners(con, ownership.Scope(pairs=derived, contacts="rb_survey_scope"))
    _record(con, report)


@dataclass
class _Staged:
    """One file read into the stage table: which table its rows are for, its rejects so far, its calls."""

    table_kind: str
    rejects: list[Reject]
    calls: pl.DataFrame | None = None
    naive_timezone: str | None = None  # the adapter's zone for times without an offset (None: the team's)


def _stage_file(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, settings: Settings, fr: FileReport, mapping: Path | None
) -> _Staged:
    """Read one file into the stage table. Temp tables only: a failure here has nothing to roll back, and a
    failed statement here (DuckDB's strict CSV reader, retried in Python) must not abort a transaction."""
    if kind in canonical.CANONICAL:
        staged = canonical.stage_csv(con, path, kind, MESSAGE_STAGE)
        checkpoint("after_stage")
        fr.rows_read = staged.rows_read
        fr.notes.extend(staged.notes)
        return _Staged(kind, list(staged.rejects))
    frame = _adapter_frame(path, kind, settings, mapping)
    fr.rows_read = frame.rows_read
    messages = (
        frame.messages
        if frame.messages is not None
        else pl.DataFrame(
            schema={**dict.fromkeys(canonical.CANONICAL["messages"][0], pl.String), "source_line": pl.Int64}
        )
    )
    canonical.stage_frame(con, MESSAGE_STAGE, canonical.CANONICAL["messages"][0], messages)
    calls = frame.calls if frame.calls is not None and frame.calls.height else None
    return _Staged("messages", list(frame.rejects), calls, frame.naive_timezone)


def _merge_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    kind: str,
    staged: _Staged,
    settings: Settings,
    run_id: int,
    fr: FileReport,
    replace: bool = False,
) -> bool:
    """Validate the staged rows and merge them, in the caller's transaction; True when survey rows changed."""
    rejects = staged.rejects
    calls_loaded = _insert_calls(con, staged.calls, kind, run_id, settings) if staged.calls is not None else 0
    table_kind = staged.table_kind
    if table_kind in ("messages", "surveys"):
        fr.local_timezone = staged.naive_timezone or settings.timezone
    if table_kind == "messages":
        rejects.extend(
            validate.validate_messages(
                con,
                MESSAGE_STAGE,
                settings,
                kind,
                VALID,
                naive_timezone=staged.naive_timezone,
                updatable=kind == twilio_webhook.KIND,  # fill_from_stored updates it
            )
        )
        fr.rows_local_time, fr.rows_ambiguous_time = validate.local_time_counts(con)
        if kind == twilio_webhook.KIND:  # events without date or text: keep what is stored (see the module)
            twilio_webhook.fill_from_stored(con, VALID, merge.CHANGED if merge._exists(con, merge.CHANGED) else None)
        counts = merge.merge_messages(con, VALID, run_id, stage=MESSAGE_STAGE, replace=replace)
    elif table_kind == "surveys":
        rejects.extend(validate.validate_surveys(con, MESSAGE_STAGE, settings, VALID))
        fr.rows_local_time, fr.rows_ambiguous_time = validate.local_time_counts(con)
        counts = merge.merge_surveys(con, VALID, run_id, stage=MESSAGE_STAGE, replace=replace)
    else:
        rejects.extend(validate.validate_reference(con, MESSAGE_STAGE, table_kind, settings, VALID))
        counts = merge.merge_reference(con, VALID, table_kind, replace=replace)
    checkpoint("after_validate")
    rejects.extend(counts.rejects)
    fr.rows_rejected = len(rejects)
    fr.rows_loaded = counts.loaded + counts.updated + calls_loaded
    fr.rows_updated = counts.updated
    # Whatever was read and neither loaded nor rejected is a duplicate: of a stored row (counts.duplicate),
    # of a later row for the same id in this file, or another event of the same message (webhooks).
    fr.rows_duplicate = fr.rows_read - fr.rows_rejected - fr.rows_loaded
    _store_rejects(con, run_id, path, kind, rejects, settings.default_region)
    checkpoint("after_merge")
    stored_path = storable(str(path))  # a file name that is not UTF-8 (bytes kept as surrogates) still stores
    con.execute(
        "INSERT INTO etl_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
        [run_id, stored_path, kind, fr.rows_read, fr.rows_loaded, fr.rows_updated, fr.rows_rejected, fr.rows_duplicate],
    )
    if table_kind == "messages":
        con.execute(
            f"UPDATE etl_files SET first_at = (SELECT min(created_at) FROM {VALID}), "
            f"last_at = (SELECT max(created_at) FROM {VALID}) WHERE run_id = ? AND path = ?",
            [run_id, stored_path],
        )
    # this file's working copies are done with (its changed rows are in merge.CHANGED): dropped now, a 10M file
    # would otherwise keep three copies of every body in memory through the derivation and spill them to disk
    warehouse.drop_temp(con, VALID, MESSAGE_STAGE, "rb_checked", "rb_merge", "rb_survey_merge")
    return table_kind == "surveys" and (counts.loaded + counts.updated) > 0


def _adapter_frame(path: Path, kind: str, settings: Settings, mapping: Path | None) -> SourceFrame:
    from etl.sources.registry import ADAPTERS

    reader = ADAPTERS.get(kind)
    if reader is None:
        known = ", ".join(sorted([*canonical.CANONICAL, *ADAPTERS]))
        raise SourceError(f"{path}: unknown --source {kind!r}; known kinds: {known}")
    if kind == "mapped_csv":
        if mapping is None:
            raise SourceError(f"{path}: --source mapped_csv needs --mapping FILE (a YAML column mapping)")
        return reader(path, settings, mapping=mapping)
    return reader(path, settings)


def _insert_calls(
    con: duckdb.DuckDBPyConnection, calls: pl.DataFrame, kind: str, run_id: int, settings: Settings
) -> int:
    """Calls count per line and agent but are not messages; returns how many calls were new or changed."""
    frame = calls  # noqa: F841 - scanned by DuckDB
    # a call time without an offset is the team's local time, as for messages (etl.validate)
    instant, _ = validate.local_instant_sql("rb_local", settings.timezone)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_calls AS
        SELECT call_id, ? AS source, rb_at AS created_at, timezone(?, rb_at) AS created_local, direction, line_number,
               contact_number, agent_id, status, CAST(duration_seconds AS DOUBLE) AS duration_seconds, ? AS run_id
        FROM (SELECT *, CASE WHEN rb_local IS NULL THEN TRY_CAST(created_at AS TIMESTAMPTZ) ELSE {instant} END AS rb_at
              FROM (SELECT *, CASE WHEN NOT regexp_matches(created_at, ?) THEN TRY_CAST(created_at AS TIMESTAMP) END
                              AS rb_local FROM frame))
        WHERE rb_at IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY source_line DESC) = 1
        """,
        [kind, settings.timezone, run_id, validate.OFFSET_RE],
    )
    (changed,) = one_row(
        con,
        """
        SELECT count(*) FROM rb_calls n LEFT JOIN calls c USING (call_id)
        WHERE c.call_id IS NULL OR (n.status, n.duration_seconds, n.agent_id)
              IS DISTINCT FROM (c.status, c.duration_seconds, c.agent_id)
        """,
    )
    con.execute(
        "DELETE FROM calls WHERE call_id IN (SELECT call_id FROM rb_calls); "
        "INSERT INTO calls BY NAME SELECT * FROM rb_calls"
    )
    return changed


def _store_rejects(
    con: duckdb.DuckDBPyConnection, run_id: int, path: Path, kind: str, rejects: list[Reject], region: str
) -> None:
    """Every reject of every source is stored here, so this is where raw text and reasons are redacted."""
    if not rejects:
        return
    # storable: a record rejected for a lone surrogate still holds it
    stored = [redact_reject(storable(r.raw), storable(r.reason), region) for r in rejects]
    frame = pl.DataFrame(  # noqa: F841 - scanned by DuckDB
        {
            "line": [r.line for r in rejects],
            "reason": [reason for _, reason in stored],
            "raw": [raw for raw, _ in stored],
        },
        schema={"line": pl.Int64, "reason": pl.String, "raw": pl.String},
    )
    con.execute(
        "INSERT INTO rejected_rows SELECT ?, ?, ?, line, reason, raw FROM frame", [run_id, storable(str(path)), kind]
    )


def _fill_reference(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Every line and agent seen in messages exists in its table (unknown agents load unnamed)."""
    con.execute(
        f"""
        INSERT INTO lines (line_number)
        SELECT DISTINCT line_number FROM {merge.CHANGED} WHERE line_number NOT IN (SELECT line_number FROM lines)
        """
        if merge._exists(con, merge.CHANGED)
        else "SELECT 1"
    )
    con.execute(
        f"""
        INSERT INTO agents (agent_id)
        SELECT DISTINCT agent_id FROM {merge.CHANGED}
        WHERE agent_id IS NOT NULL AND agent_id NOT IN (SELECT agent_id FROM agents)
        """
        if merge._exists(con, merge.CHANGED)
        else "SELECT 1"
    )
    for line in settings.lines:
        con.execute(
            """
            INSERT INTO lines (line_number, name, source_id, team) VALUES (?, ?, ?, ?)
            ON CONFLICT (line_number) DO UPDATE SET name = coalesce(lines.name, excluded.name),
                                                   source_id = coalesce(excluded.source_id, lines.source_id),
                                                   team = coalesce(lines.team, excluded.team)
            """,
            [line.number, line.name, line.source_id, line.team],
        )


# Derivation settings whose change only re-scores survey replies; any other change re-derives everything.
RESCORE_ONLY = frozenset({"csat", "nps"})
_DERIVATION_KEY = "derivation_key"
_READING_KEY = "reading_settings"


def _stored(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = one(con, "SELECT value FROM meta WHERE key = ?", [key])
    return row[0] if row else None


def _derivation_changes(con: duckdb.DuckDBPyConnection, derivation: DerivationSettings) -> set[str]:
    """The derivation settings that differ from those the warehouse was derived with (recording the new
    ones). A key this version cannot read (an older version's) counts as every setting changed."""
    before = _stored(con, _DERIVATION_KEY)
    key = derivation.model_dump_json()
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_DERIVATION_KEY, key])
    if before is None or before == key:
        return set()  # a new warehouse, or the same settings
    try:
        previous = DerivationSettings.model_validate_json(before)
    except ValueError:
        return set(DerivationSettings.model_fields)
    return derivation.changed_fields(previous)


def _note_reading_changes(
    con: duckdb.DuckDBPyConnection, reading: ReadingSettings, report: LoadReport, progress: Progress
) -> None:
    """Reading settings apply as a file is read and cannot be re-applied to stored rows: say when they
    changed, so the user knows which rows were read with which."""
    before = _stored(con, _READING_KEY)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_READING_KEY, reading.model_dump_json()])
    if before is None:
        return
    try:
        changes = reading.changes_since(ReadingSettings.model_validate_json(before))
    except ValueError:
        return
    if changes:
        note = (
            f"settings applied when files are read changed since the last load ({'; '.join(changes)}): rows "
            "already stored keep how they were read; load their files again (with --replace) to re-read them"
        )
        report.notes.append(note)
        progress(note)


def _record(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
    con.execute(
        """
        UPDATE etl_runs SET finished_at = now(), status = ?, rows_read = ?, rows_loaded = ?, rows_updated = ?,
               rows_rejected = ?, rows_duplicate = ?
        WHERE run_id = ?
        """,
        [
            "failed files" if report.errors else "ok",
            report.total("rows_read"),
            report.total("rows_loaded"),
            report.total("rows_updated"),
            report.total("rows_rejected"),
            report.total("rows_duplicate"),
            report.run_id,
        ],
    )


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
