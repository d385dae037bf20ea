"""benchmarks/summarize_editing.py: check_editing reports pooled per setting and edit kind."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    path = ROOT / "benchmarks" / "summarize_editing.py"
    spec = importlib.util.spec_from_file_location("summarize_editing", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _bound(change, p95):
    return {"kind": "edit", "sample": 0, "seconds": 0.0, "mel_change": change, "clip_p95": p95,
            "ok": change <= p95}  # fmt: skip


def _report(path, harmonize, rows):
    args = {"style_from": "none", "harmonize": harmonize, "ramp": None, "steps": 8, "offset": 2.0}
    path.write_text(json.dumps({"args": args, "summary": {}, "rows": rows}))
    return path


def test_reports_of_one_setting_are_pooled_and_settings_kept_apart(tmp_path):
    extend_over_on_onset = {
        "edit": "extend", "agree": True, "boundaries": [_bound(1.0, 0.8)],
        "original_at_boundaries": [_bound(0.95, 0.9)],
    }  # fmt: skip
    inpaint_seam = {
        "edit": "inpaint", "agree": False, "boundaries": [_bound(0.2, 0.4), _bound(0.5, 0.4)],
        "original_at_boundaries": [_bound(0.1, 0.4), _bound(0.2, 0.4)], "seam_in_crossfade": [False, True],
    }  # fmt: skip
    a = _report(tmp_path / "a.json", 3, [extend_over_on_onset, inpaint_seam])
    b = _report(tmp_path / "b.json", 3, [extend_over_on_onset])
    c = _report(tmp_path / "c.json", 1, [inpaint_seam])
    totals = _tool().summarize([a, b, c])
    key3 = "style=none crossfade=default level=off harmonize=3 ramp=default steps=8"
    extend, inpaint = totals[(key3, "extend")], totals[(key3, "inpaint")]
    assert (extend.reports, extend.edits, extend.style_agree, extend.boundaries_ok) == (2, 2, 2, 0)
    assert (extend.original_ok, extend.over_where_original_ok) == (0, 0)  # the original is over there too
    assert (inpaint.edits, inpaint.style_agree, inpaint.boundaries, inpaint.boundaries_ok) == (1, 0, 2, 1)
    assert (inpaint.original_ok, inpaint.over_where_original_ok, inpaint.crossfade_seams) == (2, 1, 1)
    assert extend.crossfade_seams == 0  # reports without the field count none
    assert inpaint.mean_ratio == pytest.approx((0.5 + 1.25) / 2)
    key1 = "style=none crossfade=default level=off harmonize=1 ramp=default steps=8"
    assert totals[(key1, "inpaint")].edits == 1
    assert len(totals) == 3


def test_a_file_that_is_no_report_is_named(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="notes.json: not a benchmarks/check_editing.py report"):
        _tool().summarize([bad])
