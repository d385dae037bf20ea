"""Check extend / inpaint on held-out clips: boundary smoothness and style agreement.

Usage::

    .venv/bin/python benchmarks/check_editing.py MANIFEST --split test --per-style 2 \
        --json docs/reports/editing_eval.json

For each chosen clip of the manifest's split (``--per-style`` files per label, in manifest order),
a ``--seconds`` crop starting ``--offset`` seconds in is

* extended by ``--extend`` seconds (``pipe.extend``; new audio after the crop), and
* inpainted over ``--span A,B`` seconds of the crop (``pipe.inpaint``),

unconditionally (no ``--style``: the new audio follows from the kept audio alone) or, with
``--style-from label``, conditioned on the clip's label, or with ``--style-from auto`` on the style
the classifier hears in the crop (``pipe.detect_style``, what ``--style auto`` does). Clip ``k``
(in that order) is edited with seed ``--seed + k``: with one seed for all, every clip would get the
same noise, and where the new part puts its first note onset (on the cut or not) would be decided
once for all of them. Reported per edit:

* at each boundary, the frame-to-frame log-mel change and the clip's own 95th percentile
  (:func:`audiogen.evaluation.boundaries.boundary_report`, what ``--report`` prints), and the same for the
  original recording at the same places (its true continuation: a note onset there shows up in
  both);
* whether a place anywhere from the boundary across its crossfade (every half hop) is over the
  edited clip's p95 where the original recording is within its own there (``seam_in_crossfade``:
  a seam the edit made, also where the crossfade from the input to the re-synthesis lies);
* for extend, the RMS level of the new seconds minus that of the input's last 3 s, and the same
  for the original recording's true continuation (``levels``, dB);
* the style classifier's prediction (``classifier/`` of the pipeline folder, else the bundled one)
  for the kept part (the crop without the edited span) and the new part (the edited span; for
  extend, the new seconds), and whether they agree; also the prediction for the kept part against
  the clip's label (the classifier's own accuracy on these crops).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402


def _zone_seam(result, original, boundary: int, mel_config) -> bool:
    """Whether some place from the boundary across its crossfade (every half hop) is over the
    edited clip's p95 where the original recording at that place is within its own."""
    from audiogen.evaluation.boundaries import boundary_report

    fade, step = result.crossfade_samples, mel_config.hop_length // 2
    kept_before = any(boundary == hi for _, hi in result.kept)  # the crossfade ends at the boundary
    lo, hi = (boundary - fade, boundary) if kept_before else (boundary, boundary + fade)
    places = [("edit", p) for p in range(lo, hi + 1, step)]
    edited = boundary_report(result.waveforms[0], mel_config, places)
    source = boundary_report(original, mel_config, places)
    return any(not s.ok and t.ok for s, t in zip(edited, source, strict=True))


def main(argv: list[str] | None = None) -> None:
    """Run the check, print one line per edit and the totals (and ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-style", type=int, default=2)
    parser.add_argument("--checkpoint", type=Path, default=None, help="pipeline folder (default: bundled)")
    parser.add_argument("--offset", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--extend", type=float, default=5.0)
    parser.add_argument("--span", default="4,6")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ramp", type=int, default=None, help="latent ramp frames (default: the library's)")
    parser.add_argument(
        "--crossfade", type=float, default=None, help="crossfade seconds (default: the library's)"
    )
    parser.add_argument(
        "--harmonize", type=int, default=None, help="passes per sampler step (default: the library's)"
    )
    parser.add_argument(
        "--no-match-level", action="store_true", help="keep the new audio at the level it is generated at"
    )
    parser.add_argument("--style-from", choices=("none", "label", "auto"), default="none")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from audiogen.pipelines import inpaint as editing

    # the library's defaults written out, so that a report says what it ran with
    args.crossfade = editing.CROSSFADE_SECONDS if args.crossfade is None else args.crossfade
    args.harmonize = editing.HARMONIZE_PASSES if args.harmonize is None else args.harmonize
    args.ramp = editing.RAMP_FRAMES if args.ramp is None else args.ramp

    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import load_audio
    from audiogen.audio.levels import rms_db
    from audiogen.data.manifest import read_manifest
    from audiogen.evaluation.boundaries import boundary_report
    from audiogen.models.classifier import StyleClassifier
    from audiogen.pipelines.audiogen import default_model_dir, load_pretrained

    folder = args.checkpoint or default_model_dir()
    pipe = load_pretrained(args.checkpoint, device="cpu")
    classifier_dir = (
        folder / "classifier" if (folder / "classifier").is_dir() else default_model_dir() / "classifier"
    )
    classifier = StyleClassifier.from_pretrained(classifier_dir).eval()
    frontend = LogMelSpectrogram(classifier.config.mel)
    sr = pipe.sample_rate

    def predict(wave: torch.Tensor) -> str:
        with torch.no_grad():
            logits = classifier(frontend(wave.reshape(1, -1)).mel).logits
        return classifier.labels[int(logits.argmax())]

    entries = [e for e in read_manifest(args.manifest) if e.split == args.split]
    chosen, count = [], {}
    for e in entries:
        if count.get(e.label, 0) < args.per_style and e.duration >= args.offset + args.seconds:
            chosen.append(e)
            count[e.label] = count.get(e.label, 0) + 1
    a, b = (float(x) for x in args.span.split(","))
    ramp = {"ramp": args.ramp, "harmonize": args.harmonize, "crossfade": args.crossfade}
    ramp["match_level"] = not args.no_match_level
    rows = []
    for index, e in enumerate(chosen):
        seed = args.seed + index  # one seed per clip: the same noise everywhere would tie the clips' outcomes
        clip = load_audio(e.path, sample_rate=sr, channels=1, offset=args.offset, duration=args.seconds)
        x = clip.waveform[None]  # (1, 1, samples)
        style = None
        if args.style_from == "label":
            style = e.label
        elif args.style_from == "auto":
            style = pipe.detect_style(x, sr, classifier)
        for kind in ("extend", "inpaint"):
            start = time.perf_counter()
            if kind == "extend":
                r = pipe.extend(
                    x, sr, args.extend, seed=seed, steps=args.steps, style=style, progress=False, **ramp
                )
                n = x.shape[-1]
                kept, new = x[0, 0], r.waveforms[0, 0, n:]
            else:
                r = pipe.inpaint(
                    x, sr, a, b, seed=seed, steps=args.steps, style=style, progress=False, **ramp
                )
                ia, ib = round(a * sr), round(b * sr)
                kept = torch.cat([x[0, 0, :ia], x[0, 0, ib:]])
                new = r.waveforms[0, 0, ia:ib]
            stats = boundary_report(r.waveforms[0], pipe.mel_config, [("edit", p) for p in r.boundaries])
            # the same places in the original recording (its true continuation), where it is long enough
            total = r.waveforms.shape[-1] / sr
            reference, zone_seams = None, None
            if e.duration >= args.offset + total:
                original = load_audio(e.path, sample_rate=sr, channels=1, offset=args.offset, duration=total)
                if original.waveform.shape[-1] >= r.waveforms.shape[-1]:
                    source = original.waveform[:, : r.waveforms.shape[-1]]
                    original_stats = boundary_report(
                        source, pipe.mel_config, [("original", p) for p in r.boundaries]
                    )
                    reference = [s.to_dict() for s in original_stats]
                    zone_seams = [_zone_seam(r, source, p, pipe.mel_config) for p in r.boundaries]
            kept_style, new_style = predict(kept), predict(new)
            levels = None
            if kind == "extend":  # the new seconds vs the last 3 s of the input (and the recording's own)
                n = x.shape[-1]
                levels = {"new_minus_kept_db": float(rms_db(new[None]) - rms_db(x[0, :, n - 3 * sr :]))}
                if reference is not None:
                    levels["original_minus_kept_db"] = float(
                        rms_db(source[:, n:]) - rms_db(x[0, :, n - 3 * sr :])
                    )
            row = {
                "file": Path(e.path).name,
                "label": e.label,
                "edit": kind,
                "seed": seed,
                "boundaries": [s.to_dict() for s in stats],
                "original_at_boundaries": reference,
                "seam_in_crossfade": zone_seams,
                "levels": levels,
                "kept_style": kept_style,
                "new_style": new_style,
                "agree": kept_style == new_style,
                "kept_is_label": kept_style == e.label,
                "seconds": time.perf_counter() - start,
            }
            rows.append(row)
            marks = ", ".join(f"{s.mel_change:.3f}/{s.clip_p95:.3f}{'' if s.ok else ' OVER'}" for s in stats)
            if reference:
                marks += (
                    " (original recording there: "
                    + ", ".join(f"{s['mel_change']:.3f}/{s['clip_p95']:.3f}" for s in reference)
                    + ")"
                )
            print(
                f"{e.label or '-':<8} {row['file']:<22} {kind:<8} boundaries (change/p95) {marks}; "
                f"kept {kept_style}, new {new_style} ({'agree' if row['agree'] else 'DIFFER'})",
                flush=True,
            )
    bounds = [s for r in rows for s in r["boundaries"]]
    summary = {}
    for kind in ("extend", "inpaint"):
        sel = [r for r in rows if r["edit"] == kind]
        bs = [s for r in sel for s in r["boundaries"]]
        summary[kind] = {
            "edits": len(sel),
            "style_agreement": sum(r["agree"] for r in sel) / max(1, len(sel)),
            "boundaries_ok": sum(s["ok"] for s in bs),
            "boundaries": len(bs),
        }
        print(
            f"{kind}: style agreement kept vs new {sum(r['agree'] for r in sel)}/{len(sel)}; "
            f"boundaries within the clip's p95 {summary[kind]['boundaries_ok']}/{len(bs)}"
        )
    accuracy = sum(r["kept_is_label"] for r in rows) / max(1, len(rows))
    print(f"classifier on the kept parts vs the labels: {accuracy:.2f}; all boundaries ok "
          f"{sum(s['ok'] for s in bounds)}/{len(bounds)}")  # fmt: skip
    if args.json is not None:
        payload = {"args": vars(args), "summary": summary, "kept_label_accuracy": accuracy, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
