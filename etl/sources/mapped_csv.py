"""Any CSV of messages plus a YAML mapping file (kind "mapped_csv"; the CLI passes ``--mapping FILE``).

detect_kind never returns this kind: a CSV cannot say which mapping it needs, so the caller chooses it.

Mapping file (see mappings/example_helpdesk.yaml), validated with Pydantic; unknown keys, unknown canonical
fields and impossible values are a SourceError naming the mapping file and the key:

    columns:          # canonical field -> column name in the CSV header (exact, else case-insensitive)
      created_at: Sent At
      ...
    values:           # optional per-field translation of cell values (exact, else case-insensitive)
      direction: {Customer: inbound, Agent: outbound}
      is_automated: {Bot: "true", Human: "false"}
    date_format: "%d/%m/%Y %H:%M"   # optional strptime format, or epoch_s / epoch_ms; default ISO 8601 (or
                                    # slash dates in date_order)
    date_order: DMY                 # optional: the order of slash dates without a date_format (MDY, DMY, YMD);
                                    # default the settings' date_order (from default_region)
    timezone: Europe/London         # IANA zone for dates without an offset; default the team's (settings)
    defaults:         # optional values for fields the CSV lacks or leaves empty
      channel: sms
      line_number: "+15550100"
    delimiter: ","                  # optional, one character; default ","
    encoding: utf-8                 # optional, a text encoding (utf-8, cp1252, latin-1, utf-16...); default
                                    # utf-8 (a BOM is dropped)

Every scalar in the mapping is read as text (YAML's yes/no/on/off and numbers are not converted, so
``line_number: +15550100`` keeps its "+").

Required: created_at must be a column; direction, contact_number and line_number must each be a column or a
default. message_id is optional: without a message_id column each row gets
"mapped-" + the first 20 hex digits of sha1("created_at|direction|line|contact|body") (raw cell values), stable
across re-imports; a row whose mapped message_id cell is empty is rejected.

Rows: cell values are stripped (body kept as written); empty cells are missing and take the default if one
is given. direction must come out as inbound/outbound (after values.direction; "Inbound" etc. are accepted),
else the row is rejected naming the value. is_automated must come out as true/false (yes/no/1/0/y/n are
accepted); when it is missing it is "false" (etl.derive still classifies an outbound body matching
settings.auto_reply_templates, or a line in settings.automation_numbers, as automated). Dates: with date_format,
parsed by strptime (or as epoch seconds/milliseconds); otherwise ISO 8601 ("2024-01-15T14:23:05Z",
"2024-01-15 14:23:05", fractions and offsets allowed) or a slash date in date_order ("15/01/2024 14:23"
with DMY; one that only reads in the other order is rejected with that reason, never swapped). A date without
an offset is read in the mapping's timezone, else the team's (settings.timezone): etl.validate does it for
every source alike, DST-correct (a time the clocks skipped is rejected; at a fall-back overlap the first
occurrence is taken and counted). Output is UTC ISO 8601 "...Z", or naive ISO 8601 for etl.validate.
Fields not mapped are null. A row with a different number of fields than the header is rejected.
source_line is the CSV line where the record starts; blank lines are skipped and not counted.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl.sources.base import (
    MESSAGE_COLUMNS,
    Reject,
    SourceError,
    SourceFrame,
    csv_raw,
    csv_records,
    lone_surrogate,
    reading,
)
from etl.sources.common import iso_text, messages_frame, parse_iso
from replyboard.dates import DateOrder, other_order_problem, parse_slash_datetime
from replyboard.files import NotARegularFile, read_bytes, read_text
from replyboard.settings import Settings

ALLOWED_VALUES = {"direction": ("inbound", "outbound"), "is_automated": ("true", "false")}
_BOOLEAN_WORDS = {
    "true": "true",
    "yes": "true",
    "y": "true",
    "1": "true",
    "false": "false",
    "no": "false",
    "n": "false",
    "0": "false",
}
_NOT_DEFAULTABLE = ("message_id", "created_at")
_EPOCH_FORMATS = {"epoch_s": 1000, "epoch_ms": 1}
_MAX_FORMAT = 200
_SAMPLE_DATE = datetime(2024, 1, 15, 14, 23, 5, 123456, tzinfo=UTC)
_NOT_CHARSETS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"})


def _check_fields(keys: Any) -> None:
    unknown = [k for k in keys if k not in MESSAGE_COLUMNS]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))} is not a canonical field; use one of {', '.join(MESSAGE_COLUMNS)}"
        )


class Mapping(BaseModel):
    """A mapped_csv mapping file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str]
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    date_format: str | None = None
    date_order: DateOrder | None = None
    timezone: str | None = None
    defaults: dict[str, str] = Field(default_factory=dict)
    delimiter: str = ","
    encoding: str = "utf-8"

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: dict[str, str]) -> dict[str, str]:
        _check_fields(columns)
        empty = [k for k, v in columns.items() if not v.strip()]
        if empty:
            raise ValueError(f"{', '.join(empty)}: column name is empty")
        return {k: v.strip() for k, v in columns.items()}

    @field_validator("values")
    @classmethod
    def _values(cls, values: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        _check_fields(values)
        for field, table in values.items():
            allowed = ALLOWED_VALUES.get(field)
            if allowed:
                bad = [f"{k!r}: {v!r}" for k, v in table.items() if v.strip().lower() not in allowed]
                if bad:
                    raise ValueError(f"{field} values must map to {' or '.join(allowed)}; got {', '.join(bad)}")
        return {
            f: {k: (v.strip().lower() if f in ALLOWED_VALUES else v) for k, v in t.items()} for f, t in values.items()
        }

    @field_validator("defaults")
    @classmethod
    def _defaults(cls, defaults: dict[str, str]) -> dict[str, str]:
        _check_fields(defaults)
        fixed = [k for k in defaults if k in _NOT_DEFAULTABLE]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot have a default (each message has its own)")
        for field, allowed in ALLOWED_VALUES.items():
            if field in defaults and defaults[field].strip().lower() not in allowed:
                raise ValueError(f"default {field} must be {' or '.join(allowed)}, not {defaults[field]!r}")
        return {k: (v.strip().lower() if k in ALLOWED_VALUES else v.strip()) for k, v in defaults.items()}

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, fmt: str | None) -> str | None:
        if fmt is None or not fmt.strip():
            return None
        if fmt.strip() in _EPOCH_FORMATS:
            return fmt.strip()
        if "%" not in fmt or len(fmt) > _MAX_FORMAT:
            raise ValueError(f"{fmt!r} is not a strptime format such as '%d/%m/%Y %H:%M' (or epoch_s, epoch_ms)")
        # A format strptime cannot read back what it writes fails on every row ("%Y%Y" even raises re.error
        # from inside strptime): refuse it here, once, naming the key.
        try:
            written = _SAMPLE_DATE.strftime(fmt)
            datetime.strptime(written, fmt)
        except Exception as exc:  # strptime compiles the format to a regex: ValueError, re.error, ...
            raise ValueError(
                f"{fmt!r} is not a strptime format that can read dates back (such as '%d/%m/%Y %H:%M'): {exc}"
            ) from None
        return fmt

    @field_validator("date_order", mode="before")
    @classmethod
    def _date_order(cls, order: object) -> object:
        return order.strip().upper() if isinstance(order, str) else order

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, tz: str | None) -> str | None:
        if tz is None:
            return None
        try:
            ZoneInfo(tz.strip())
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{tz!r} is not an IANA timezone such as 'UTC' or 'Europe/London'") from exc
        return tz.strip()

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, delimiter: str) -> str:
        if delimiter == "\\t":
            delimiter = "\t"
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ValueError(f"{delimiter!r} must be one character (not a quote or newline)")
        return delimiter

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, encoding: str) -> str:
        try:
            codec = codecs.lookup(encoding.strip())
        except LookupError as exc:
            raise ValueError(f"{encoding!r} is not a known text encoding") from exc
        # Python's codec registry also holds transforms (rot13, base64, zlib, hex, bz2, uu: bytes.decode
        # refuses them) and codecs that are not a file's character set (punycode, idna, unicode_escape: they
        # raise other errors, or take quadratic time, on a CSV's bytes).
        if not getattr(codec, "_is_text_encoding", True) or codec.name in _NOT_CHARSETS:
            raise ValueError(
                f"{encoding!r} is not the character encoding of a text file; use one such as utf-8, cp1252, "
                "latin-1 or utf-16"
            )
        return encoding.strip()

    @model_validator(mode="after")
    def _required(self) -> Mapping:
        if self.date_format and self.date_order and self.date_format not in _EPOCH_FORMATS:
            fields = {"d": "D", "m": "M", "b": "M", "B": "M", "Y": "Y", "y": "Y"}
            directives = re.findall(r"%[-#]?([A-Za-z])", self.date_format)
            order = "".join(dict.fromkeys(fields[c] for c in directives if c in fields))
            if len(order) == 3 and order != self.date_order:
                raise ValueError(
                    f"date_order {self.date_order} contradicts date_format {self.date_format!r} (which reads "
                    f"{order}); keep one of them"
                )
        if "created_at" not in self.columns:
            raise ValueError("columns.created_at is required (the column holding each message's date-time)")
        for field in ("direction", "contact_number", "line_number"):
            if field not in self.columns and field not in self.defaults:
                raise ValueError(f"{field} needs a column (columns.{field}) or a default (defaults.{field})")
        stray = [f for f in self.values if f not in self.columns]
        if stray:
            raise ValueError(f"values given for {', '.join(stray)}, which has no column in columns")
        return self


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid mapping"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key; valid keys: {', '.join(Mapping.model_fields)}"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; every problem is a SourceError naming the file and key."""
    path = Path(path)
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise SourceError(f"{path}: mapping file not found") from None
    except NotARegularFile as exc:
        raise SourceError(f"{path}: mapping file is {exc.strerror}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read mapping file ({exc})") from None
    try:
        raw = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar stays text
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SourceError(f"{path}: a mapping file must be a YAML mapping with a 'columns' key")
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        raise SourceError(_format_errors(path, exc)) from None


def _translate(table: dict[str, str], value: str) -> str | None:
    if value in table:
        return table[value]
    folded = value.casefold()
    for key, target in table.items():
        if key.strip().casefold() == folded:
            return target
    return None


def _parse_date(value: str, mapping: Mapping, order: DateOrder) -> datetime | None:
    """The cell as a date-time: aware when it holds an offset (or is epoch time), naive otherwise."""
    fmt = mapping.date_format
    if fmt in _EPOCH_FORMATS:
        try:
            number = float(value)
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=number * _EPOCH_FORMATS[fmt])
        except (ValueError, OverflowError):
            return None
    moment: datetime | None
    if fmt:
        try:
            moment = datetime.strptime(value, fmt)
        except ValueError:
            return None
    else:
        moment = parse_iso(value) or parse_slash_datetime(value, order)
    return moment  # naive: etl.validate reads it in the mapping's timezone, else the team's


def _row(
    cells: dict[str, str | None], line: int, mapping: Mapping, mapping_name: str, settings: Settings
) -> dict[str, Any] | str:
    problems: list[str] = []
    failed: set[str] = set()
    out: dict[str, Any] = {}
    for field in MESSAGE_COLUMNS:
        value = cells.get(field)
        column = mapping.columns.get(field)
        if value is not None and field in mapping.values:
            translated = _translate(mapping.values[field], value)
            if translated is not None:
                value = translated
            elif field in ALLOWED_VALUES and value.strip().lower() not in ALLOWED_VALUES[field]:
                known = ", ".join(mapping.values[field])
                problems.append(f"{column} '{value}' is not in {mapping_name} values.{field} (known: {known})")
                failed.add(field)
                continue
        if value is None:
            value = mapping.defaults.get(field)
        if value is not None and field == "direction":
            value = value.strip().lower()
            if value not in ALLOWED_VALUES["direction"]:
                problems.append(f"{column} '{value}' is not inbound or outbound (add it to values.direction)")
                failed.add(field)
                continue
        if value is not None and field == "is_automated":
            word = _BOOLEAN_WORDS.get(value.strip().lower())
            if word is None:
                problems.append(f"{column} '{value}' is not true or false (add it to values.is_automated)")
                continue
            value = word
        out[field] = value
    raw_date = cells.get("created_at")
    if raw_date is None:
        problems.append(f"no date ({mapping.columns['created_at']} is empty)")
    else:
        order = mapping.date_order or settings.slash_date_order
        moment = _parse_date(raw_date, mapping, order)
        created = iso_text(moment) if moment is not None else None
        swapped = other_order_problem(raw_date, order) if created is None and not mapping.date_format else None
        if swapped:
            problems.append(f"{mapping.columns['created_at']} '{raw_date}' {swapped}")
        elif created is None:
            expected = (
                f"date_format '{mapping.date_format}'"
                if mapping.date_format
                else f"ISO 8601, e.g. 2024-01-15T14:23:05Z, or a {order} slash date (or set date_format in the mapping)"
            )
            problems.append(f"{mapping.columns['created_at']} '{raw_date}' is not a date matching {expected}")
        out["created_at"] = created
    for field in ("contact_number", "line_number"):
        if out.get(field) is None and field in mapping.columns:
            problems.append(f"no {field.replace('_', ' ')} ({mapping.columns[field]} is empty)")
    if "direction" not in failed and out.get("direction") is None:
        problems.append(f"no direction ({mapping.columns['direction']} is empty)")
    if "message_id" in mapping.columns:
        if out.get("message_id") is None:
            problems.append(f"no message id ({mapping.columns['message_id']} is empty)")
    else:
        key = "|".join(cells.get(f) or "" for f in ("created_at", "direction", "line_number", "contact_number", "body"))
        out["message_id"] = "mapped-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]
    if problems:
        return "; ".join(problems)
    if out.get("is_automated") is None:
        out["is_automated"] = "false"  # templates and automation numbers: etl.derive, for every source alike
    out["source_line"] = line
    return out


def read(path: Path, settings: Settings, mapping: Path | None = None) -> SourceFrame:
    """Kind "mapped_csv": read path with the mapping file (see module docstring)."""
    path = Path(path)
    if mapping is None:
        raise SourceError(f"{path}: reading a CSV through a mapping needs a mapping file (--mapping FILE)")
    spec = load_mapping(Path(mapping))
    mapping_name = Path(mapping).name
    with reading(path):
        data = read_bytes(path)
    encoding = "utf-8-sig" if codecs.lookup(spec.encoding).name == "utf-8" else spec.encoding
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not {spec.encoding} text (undecodable byte at offset {exc.start}); set encoding in {mapping_name}"
        ) from None
    suspect = lone_surrogate(text) is not None  # checked once for the file, then row by row only if needed
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SourceError(f"{path}: file is empty") from None
    except csv.Error as exc:
        raise SourceError(f"{path}: line 1: unreadable CSV header ({exc})") from None
    exact = {name: i for i, name in reversed(list(enumerate(header)))}
    folded = {name.casefold(): i for i, name in reversed(list(enumerate(header)))}
    index: dict[str, int] = {}
    for field, column in spec.columns.items():
        i = exact.get(column, folded.get(column.casefold()))
        if i is None:
            raise SourceError(
                f"{path}: column '{column}' ({mapping_name} columns.{field}) is not in the header; "
                f"the header has: {', '.join(header)}"
            )
        index[field] = i

    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    rows_read = 0
    for item in csv_records(reader, len(header), spec.delimiter):
        rows_read += 1
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        start, record = item
        if suspect and (bad := lone_surrogate("".join(record))):
            # utf-7, for one, can decode to half a character; no column can store that
            rejects.append(
                Reject(
                    start, f"holds a lone UTF-16 surrogate ({bad}), not a character", csv_raw(record, spec.delimiter)
                )
            )
            continue
        cells: dict[str, str | None] = {}
        for field, i in index.items():  # body kept as written ("" stays ""); other empty cells are missing
            value = record[i] if field == "body" else record[i].strip()
            cells[field] = value if value != "" or field == "body" else None
        row = _row(cells, start, spec, mapping_name, settings)
        if isinstance(row, str):
            rejects.append(Reject(start, row, csv_raw(record, spec.delimiter)))
        else:
            rows.append(row)
    return SourceFrame(
        kind="mapped_csv",
        messages=messages_frame(rows),
        rejects=rejects,
        rows_read=rows_read,
        naive_timezone=spec.timezone,
    )
