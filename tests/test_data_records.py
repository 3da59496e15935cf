"""Record files: JSON arrays, JSONL and parquet read back exactly what was written."""

import json

import pytest

from onethinker.data.records import RecordFileError, kind_of, read_records, scan_records, write_records

RECORDS = [
    {"problem_id": 1, "problem": "<image>Q?", "data_type": "image", "problem_type": "multiple choice",
     "options": ["A. x", "B. y"], "answer": "<answer>A</answer>", "images": ["a.png"]},
    {"problem_id": "p2", "problem": "Q2", "data_type": "video", "problem_type": "segmentation", "options": [],
     "solution": "<answer>{}</answer>", "path": "v.mp4", "fps": 4, "resolution": {"width": 8, "height": 6},
     "segmentation_output": {"frames": ["0", "1"], "segmentation_rle": {"0": {"size": [6, 8], "counts": "abc"}}}},
    {"messages": [{"role": "user", "content": "<video>hi"}, {"role": "assistant", "content": "<think>a</think><answer>b</answer>"}],
     "videos": ["v.mp4"], "extra": None},
    {"problem_id": 2**70, "score": 0.5},
]


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_round_trip_keeps_content(tmp_path, suffix):
    path = tmp_path / f"records{suffix}"
    assert write_records(path, RECORDS) == len(RECORDS)
    back = list(read_records(path))
    assert back == RECORDS
    assert [kind_of(r) for r in back[:3]] == ["rl", "eval", "sft"]
    # and again through a second container
    other = tmp_path / "again.jsonl"
    write_records(other, back)
    assert list(read_records(other)) == RECORDS


def test_bad_files_name_the_place(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(RECORDS[0]) + "\n{oops\n[1, 2]\n" + json.dumps(RECORDS[1]) + "\n")
    with pytest.raises(RecordFileError, match=r"bad.jsonl:2: invalid JSON"):
        list(read_records(bad))
    rows = list(scan_records(bad))
    assert [r[0] for r in rows] == [0, 1, 2, 3]
    assert rows[1][2].startswith(f"{bad}:2: invalid JSON") and "expected a JSON object" in rows[2][2]
    assert rows[3][1] == RECORDS[1]
    with pytest.raises(RecordFileError, match="unknown file type '.csv'"):
        list(read_records(tmp_path / "x.csv"))
    with pytest.raises(RecordFileError, match="no such file"):
        list(read_records(tmp_path / "missing.json"))
    notarray = tmp_path / "n.json"
    notarray.write_text("3")
    with pytest.raises(RecordFileError, match="expected a JSON array"):
        list(read_records(notarray))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(RecordFileError, match="not a readable parquet"):
        list(read_records(tmp_path / "broken.parquet"))


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_lone_surrogates_and_huge_ints_round_trip_as_valid_utf8(tmp_path, suffix):
    """JSON "\\ud800" reads as a lone surrogate, which UTF-8 cannot hold: such values are written escaped."""
    recs = [{"problem_id": 1, "problem": "caf\u00e9 \ud800", "images": ["\udcff.png"]}, {"problem_id": 2**70, "problem": "ok"}]
    path = tmp_path / f"r{suffix}"
    write_records(path, recs)
    if suffix != ".parquet":
        path.read_bytes().decode("utf-8")  # valid UTF-8
        assert "caf\u00e9" in path.read_text(encoding="utf-8") or "caf\\u00e9" in path.read_text(encoding="utf-8")
    assert list(read_records(path)) == recs


def test_bad_bytes_and_deep_nesting_are_located(tmp_path):
    line = json.dumps(RECORDS[0]).encode()
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + line + b"\n" + b"\xff" + line + b"\n" + b"[" * 100_000 + b"\n" + line + b"\n")
    scanned = list(scan_records(jsonl))
    assert [r is not None for _, r, _ in scanned] == [True, False, False, True]  # a BOM is no error
    assert scanned[1][2] == f"{jsonl}:2: not valid UTF-8 (byte 1 of the line)"
    assert scanned[2][2] == f"{jsonl}:3: invalid JSON (nested too deeply to read)"
    whole = tmp_path / "r.json"
    whole.write_bytes(b"[\n" + line + b",\n" + b"[" * 100_000 + b"]" * 100_000 + b"\n]")
    with pytest.raises(RecordFileError, match=r"r\.json: invalid JSON \(nested too deeply to read\)"):
        list(read_records(whole))
    whole.write_bytes(b"[\n" + line + b",\n" + line.replace(b"Q?", b"Q\xe9") + b"\n]")
    with pytest.raises(RecordFileError, match=r"r\.json:3: not valid UTF-8"):
        list(read_records(whole))
    broken = tmp_path / "r.parquet"
    write_records(broken, RECORDS)
    raw = broken.read_bytes()
    broken.write_bytes(raw[:8] + b"\x00" * 64 + raw[72:])  # corrupt pages, intact footer
    with pytest.raises(RecordFileError, match=r"r\.parquet"):
        list(read_records(broken))


def test_parquet_keeps_records_without_fields(tmp_path):
    """Records with no keys at all still count (a parquet table without columns has no rows; found by
    tests/test_fuzz.py)."""
    path = tmp_path / "empty.parquet"
    assert write_records(path, [{}, {}, {}]) == 3
    assert list(read_records(path)) == [{}, {}, {}]
