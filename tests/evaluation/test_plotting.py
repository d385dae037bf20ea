"""Metric curves of training runs: reading metrics.jsonl and plotting them."""

import json

import pytest

from audiogen.evaluation.plotting import read_metric_curve, save_curves_png


def _write(run, lines):
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


def test_read_metric_curve_keeps_the_last_value_of_a_relogged_step(tmp_path):
    run = _write(
        tmp_path / "run",
        [
            {"step": 50, "train/total": 1.0},
            {"step": 100, "val/mel_l1_db": 3.0},
            {"step": 200, "val/mel_l1_db": 2.5},
            {"step": 200, "val/mel_l1_db": 2.4},  # resumed from step 100: logged again
            {"step": 150, "val/mel_l1_db": 2.8},
        ],
    )
    curve = read_metric_curve(run, "val/mel_l1_db")
    assert curve.steps == [100, 150, 200] and curve.values == [3.0, 2.8, 2.4]
    assert curve.source == run / "metrics.jsonl"


def test_read_metric_curve_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such metrics file"):
        read_metric_curve(tmp_path / "missing", "val/x")
    run = _write(tmp_path / "run", [{"step": 1, "train/total": 1.0}])
    with pytest.raises(ValueError, match=r"'val/x' is never logged; logged keys: \['train/total'\]"):
        read_metric_curve(run, "val/x")
    (run / "metrics.jsonl").write_text('{"step": 1, "val/x": 1.0}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: not JSON"):
        read_metric_curve(run, "val/x")
    (run / "metrics.jsonl").write_text('{"val/x": 1.0}\n')
    with pytest.raises(ValueError, match="line 1: expected an object with an integer 'step'"):
        read_metric_curve(run, "val/x")


def test_save_curves_png_writes_an_image_and_checks_lengths(tmp_path):
    a = read_metric_curve(_write(tmp_path / "a", [{"step": 1, "v": 2.0}, {"step": 2, "v": 1.5}]), "v")
    b = read_metric_curve(_write(tmp_path / "b", [{"step": 1, "v": 1.4}]), "v")
    out = save_curves_png(tmp_path / "img" / "c.png", [a, b], step_offsets=[0, 2])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2 curves but 1 labels and 2 step offsets"):
        save_curves_png(tmp_path / "d.png", [a, b], labels=["only one"])
    with pytest.raises(ValueError, match="no curves"):
        save_curves_png(tmp_path / "e.png", [])
