"""write_json_atomic: the small working files (captions, style index, training progress) are
replaced whole, and a failed write leaves the old file as it was."""
from __future__ import annotations

import json

import pytest

from studio.storage import write_json_atomic


def test_the_file_is_replaced_whole_and_no_temporary_file_stays(tmp_path):
    path = tmp_path / "captions.json"
    write_json_atomic(path, ["할머니", "a garden"], ensure_ascii=False)
    assert json.loads(path.read_text(encoding="utf-8")) == ["할머니", "a garden"]
    assert "할머니" in path.read_text(encoding="utf-8")  # the options reach json.dumps
    write_json_atomic(path, {"step": 3})
    assert json.loads(path.read_text(encoding="utf-8")) == {"step": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["captions.json"]


def test_a_value_that_cannot_be_written_leaves_the_old_file(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"step": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"step": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"step": 1}
