import json

import numpy as np
import pytest

from gsos.records import RecordWriter, read_records


def test_records_round_trip_with_numpy_and_nan(tmp_path):
    w = RecordWriter(tmp_path / "r.jsonl")
    w.append({"iteration": np.int64(1), "val_loss": float("nan"), "lr": np.float32(0.5)})
    w.append({"iteration": 2, "val_loss": 0.3, "lr": 0.1})
    recs = read_records(tmp_path / "r.jsonl")
    assert recs[0] == {"iteration": 1, "val_loss": None, "lr": 0.5}
    assert recs[1]["iteration"] == 2


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "r.jsonl"
    w = RecordWriter(path)
    for i in range(3):
        w.append({"iteration": i + 1})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"iteration": 4, "val')
    assert [r["iteration"] for r in read_records(path)] == [1, 2, 3]
    read_records(path, repair=True)
    assert path.read_bytes() == whole
    # complete JSON without its newline counts as torn too
    path.write_bytes(whole + json.dumps({"iteration": 4}).encode())
    assert len(read_records(path, repair=True)) == 3 and path.read_bytes() == whole


def test_corruption_inside_the_file_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"iteration": 1}\n{"itera\n{"iteration": 3}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_records(path)


def test_missing_file_has_no_records(tmp_path):
    assert read_records(tmp_path / "none.jsonl") == []
