"""Reading and writing the OneThinker record files: JSON arrays, JSONL (streamed) and parquet.

The three release formats (spec/data-format.md) are plain dicts; this module does not reshape them.
``write_records(read_records(f))`` gives back the same records (same keys, same values) in any of the
three containers. Parquet cannot hold every JSON shape natively (mixed-type columns, objects keyed by
frame number), so such columns are stored as JSON text and marked in the file's metadata; keys that a
record lacks are remembered too, so nothing is added or lost on the way back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

RL, SFT, EVAL = "rl", "sft", "eval"
FORMATS = (".json", ".jsonl", ".parquet")
_PARQUET_META = b"onethinker"
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some editors write first


class RecordFileError(ValueError):
    """A record file that cannot be read; the message names the file and, where known, the line."""


def container_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise RecordFileError(f"{path}: unknown file type {suffix!r}; expected one of {', '.join(FORMATS)}")
    return suffix


def kind_of(record: dict) -> str:
    """Which release format a record is in: "sft" (messages), "eval" (solution) or "rl" (answer)."""
    if "messages" in record:
        return SFT
    if "solution" in record:
        return EVAL
    return RL


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def read_records(path: str | Path) -> Iterator[dict]:
    """Yield the records of a .json (array), .jsonl or .parquet file, in file order.

    JSONL and parquet are streamed; a JSON array is parsed whole (the format allows nothing else).
    Each record is a dict; anything else is a RecordFileError naming the file and position.
    """
    path = Path(path)
    kind = container_of(path)
    if not path.is_file():
        raise RecordFileError(f"{path}: no such file")
    if kind == ".jsonl":
        yield from _read_jsonl(path)
    elif kind == ".json":
        yield from _read_json(path)
    else:
        yield from _read_parquet(path)


def _read_jsonl(path: Path) -> Iterator[dict]:
    for _, obj, err in scan_records(path):
        if err:
            raise RecordFileError(err)
        yield obj  # type: ignore[misc]


def _read_json(path: Path) -> Iterator[dict]:
    for _, obj, err in scan_records(path):
        if err:
            raise RecordFileError(err)
        yield obj  # type: ignore[misc]


def scan_records(path: str | Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Like ``read_records`` but never stops at a bad record: yields (index, record, None) or
    (index, None, message naming the file and line or record). A file that cannot be read at all
    (missing, not JSON, not parquet) still raises RecordFileError."""
    path = Path(path)
    kind = container_of(path)
    if not path.is_file():
        raise RecordFileError(f"{path}: no such file")
    if kind == ".parquet":
        for i, rec in enumerate(_read_parquet(path)):
            yield i, rec, None
        return
    if kind == ".jsonl":
        index = 0
        try:
            f = path.open("rb")
        except OSError as e:
            raise RecordFileError(f"{path}: cannot read ({e})") from None
        with f:
            # lines are split at b"\n" and decoded one by one: a line that is not UTF-8 is one bad record
            for lineno, raw in enumerate(f, 1):
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as e:
                    yield index, None, f"{path}:{lineno}: not valid UTF-8 (byte {e.start + 1} of the line)"
                except ValueError as e:
                    yield index, None, f"{path}:{lineno}: invalid JSON ({e})"
                except RecursionError:
                    yield index, None, f"{path}:{lineno}: invalid JSON (nested too deeply to read)"
                else:
                    if isinstance(obj, dict):
                        yield index, obj, None
                    else:
                        yield index, None, f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
                index += 1
        return
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RecordFileError(f"{path}: cannot read ({e})") from None
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise RecordFileError(f"{path}:{line}: not valid UTF-8 ({e.reason} at byte {e.start + 1} of the file)") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise RecordFileError(f"{path}: invalid JSON ({e})") from None
    except RecursionError:
        raise RecordFileError(f"{path}: invalid JSON (nested too deeply to read)") from None
    if isinstance(data, dict):  # a single record
        data = [data]
    if not isinstance(data, list):
        raise RecordFileError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    for i, obj in enumerate(data):
        if isinstance(obj, dict):
            yield i, obj, None
        else:
            yield i, None, f"{path}: record {i}: expected a JSON object, got {type(obj).__name__}"


def _read_parquet(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise RecordFileError(f"{path}: not a readable parquet file ({e})") from None
    meta = (pf.schema_arrow.metadata or {}).get(_PARQUET_META)
    try:
        info = json.loads(meta) if meta else {}
        if not isinstance(info, dict):
            raise ValueError(f"expected an object, got {type(info).__name__}")
        json_cols = set(info.get("json_columns", []))
        absent_col = info.get("absent_column")
    except (ValueError, TypeError, RecursionError) as e:
        raise RecordFileError(f"{path}: unreadable onethinker metadata in the parquet schema ({e})") from None
    index = 0
    batches = pf.iter_batches(batch_size=1024)
    while True:
        try:
            batch = next(batches, None)
            rows = [] if batch is None else batch.to_pylist()
        except Exception as e:  # pyarrow raises several types for corrupt pages
            raise RecordFileError(f"{path}: record {index}: unreadable parquet data ({e})") from None
        if batch is None:
            return
        for row in rows:
            absent = set(row.pop(absent_col, None) or []) if absent_col else set()
            rec = {}
            for k, v in row.items():
                if k in absent:
                    continue
                if k in json_cols and isinstance(v, str):
                    try:
                        v = json.loads(v)
                    except (ValueError, RecursionError) as e:
                        raise RecordFileError(f"{path}: record {index}: column {k!r} holds invalid JSON ({e})") from None
                rec[k] = v
            yield rec
            index += 1


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def write_records(path: str | Path, records: Iterable[dict]) -> int:
    """Write records to .json (indented array), .jsonl or .parquet (by the suffix); returns the count.

    The file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    path = Path(path)
    kind = container_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if kind == ".jsonl":
        n = 0
        with tmp.open("w", encoding="utf-8") as f:
            for rec in records:
                f.write(_dumps(rec) + "\n")
                n += 1
    elif kind == ".json":
        recs = list(records)
        n = len(recs)
        text = json.dumps(recs, ensure_ascii=False, indent=1)
        if not _utf8(text):
            text = json.dumps(recs, indent=1)
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
    else:
        recs = list(records)
        n = len(recs)
        _write_parquet(tmp, recs)
    tmp.replace(path)
    return n


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\\ud800" reads as one)
        return False
    return True


def _dumps(value: Any) -> str:
    """JSON text, non-ASCII kept as it is unless the value holds a lone surrogate, which UTF-8 cannot hold:
    then escaped (``\\ud800``), so the file stays valid UTF-8 and reads back the same value."""
    text = json.dumps(value, ensure_ascii=False)
    return text if _utf8(text) else json.dumps(value)


def _native(values: list) -> bool:
    """Values parquet stores without changing them: one scalar type (or None), or lists of strings."""
    kinds = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int")
        elif isinstance(v, float):
            kinds.add("float")
        elif isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            kinds.add("list[str]")
        else:
            return False
    return len(kinds) <= 1


def _native_array(pa: Any, values: list) -> Any:
    """An Arrow array of the values as they are, or None when parquet would change them."""
    if not _native(values):
        return None
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError):  # an int beyond 64 bits, a lone surrogate
        return None


def _write_parquet(path: Path, records: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(dict.fromkeys(k for rec in records for k in rec))
    absent_col = "__onethinker_absent__"
    while absent_col in columns:
        absent_col += "_"
    arrays, json_cols = {}, []
    for col in columns:
        values = [rec.get(col) for rec in records]
        array = _native_array(pa, values)
        if array is None:
            json_cols.append(col)
            array = pa.array(
                [_dumps(rec[col]) if col in rec else None for rec in records], type=pa.string()
            )
        arrays[col] = array
    absent = [[c for c in columns if c not in rec] for rec in records]
    info: dict[str, Any] = {"json_columns": json_cols}
    if any(absent) or not columns:  # (with no columns at all, this one keeps the number of records)
        arrays[absent_col] = pa.array(absent, type=pa.list_(pa.string()))
        info["absent_column"] = absent_col
    table = pa.table(arrays)
    table = table.replace_schema_metadata({_PARQUET_META: json.dumps(info).encode()})
    pq.write_table(table, path)
