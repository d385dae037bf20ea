#!/usr/bin/env bash
# GPU smoke check: does the CUDA + bf16 path of every stage run at all, and how fast is it?
#
#   tools/gpu_smoke.sh [OUT_DIR]          (default OUT_DIR: runs/gpu-smoke)
#
# On a CUDA machine, in one go (about 2-4 minutes; a time budget of 290 s stops what is left):
#   1. trains every recipe in recipes/debug/ (the stage from the file name: autoencoder*, diffusion*,
#      vocoder*, classifier*) for a few steps in bf16 on the GPU, on a small synthetic two-style audio
#      folder it writes first; recipes that start from the debug autoencoder (diffusion, `init:`)
#      get the one just trained;
#   2. generates two 4 s clips with the bundled model on CUDA;
#   3. runs the front-end benchmark (benchmarks/bench_spectral.py) and the generation benchmark
#      (benchmarks/bench_generate.py --devices cuda);
#   4. writes OUT_DIR/report.md: one row per step (ok / FAILED, seconds, final loss, steps/s), the
#      two benchmark tables and the machine, and exits 1 if any step failed.
# Without CUDA it stops at once with an error. AUDIOGEN_SMOKE_DEVICE=cpu runs the same steps on the CPU
# (lighter benchmark settings) to check the script itself. PYTHON=... picks the interpreter
# (default: .venv/bin/python, else python3); AUDIOGEN_SMOKE_STEPS=N the training steps (default 20).
set -uo pipefail
CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
DEVICE=${AUDIOGEN_SMOKE_DEVICE:-cuda}
STEPS=${AUDIOGEN_SMOKE_STEPS:-20}
BUDGET=290
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [ "$DEVICE" = cuda ]; then
  if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "error: tools/gpu_smoke.sh needs a CUDA GPU, and torch.cuda.is_available() is False here" \
      "($("$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA build", torch.version.cuda)' 2>&1 | tail -1));" \
      "run it on a machine with an NVIDIA GPU and driver (AUDIOGEN_SMOKE_DEVICE=cpu checks the script on the CPU)" >&2
    exit 2
  fi
  CPU_FLAG=false
  BENCH_GEN=(--devices cuda --seconds 10 --repeats 3)
  BENCH_SPEC=(--batch 32 --repeats 5 --threads 4)
elif [ "$DEVICE" = cpu ]; then
  CPU_FLAG=true
  BENCH_GEN=(--devices cpu --seconds 2 --steps 8 --repeats 1)
  BENCH_SPEC=(--batch 4 --max-seconds 4 --repeats 2 --no-cuda)
else
  echo "error: AUDIOGEN_SMOKE_DEVICE must be cuda or cpu, got '$DEVICE'" >&2
  exit 2
fi

OUT=${1:-$ROOT/runs/gpu-smoke}
case $OUT in /*) ;; *) OUT=$CALLER/$OUT ;; esac
mkdir -p "$OUT" || exit 2
LOGS="$OUT/logs"
RUNS="$OUT/runs"
rm -rf "$LOGS" "$RUNS" "$OUT/generated"
mkdir -p "$LOGS" "$RUNS"
ROWS=()
FAILED=0

# run NAME CAP_SECONDS COMMAND...: log to logs/NAME.log, at most CAP (and what is left of the budget)
run() {
  local name=$1 cap=$2
  shift 2
  local left=$((BUDGET - SECONDS))
  if [ "$left" -lt 10 ]; then
    ROWS+=("| $name | SKIPPED (time budget of ${BUDGET} s spent) | | |")
    FAILED=1
    return 1
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  local t0=$SECONDS rc=0
  echo "== $name (at most ${cap} s)"
  timeout "$cap" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  local dt=$((SECONDS - t0))
  LAST_SECONDS=$dt
  if [ "$rc" -eq 0 ]; then
    LAST_STATUS=ok
  else
    [ "$rc" -eq 124 ] && LAST_STATUS="FAILED (stopped after ${cap} s)" || LAST_STATUS="FAILED (exit $rc)"
    FAILED=1
    echo "   $LAST_STATUS; the end of logs/$name.log:" >&2
    tail -n 15 "$LOGS/$name.log" >&2
  fi
  return "$rc"
}

# the final logged training loss and speed of a run folder
summary() {
  "$PYTHON" - "$1/metrics.jsonl" <<'EOF'
import json, sys
rows = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
train = [r for r in rows if "train/steps_per_second" in r]
last = train[-1]
name = next(k for k in ("train/total", "train/total/generator", "train/total/main") if k in last)
print(f"step {last['step']}: {name} {last[name]:.4f}, {last['train/steps_per_second']:.1f} steps/s")
EOF
}

run make-audio 60 "$PYTHON" - "$OUT/audio" <<'EOF'
import math, sys
from pathlib import Path
import torch
from audiogen.audio.io import save_audio

root, sr, g = Path(sys.argv[1]), 16000, torch.Generator().manual_seed(0)
for i in range(8):
    t = torch.arange(int((1.2 + 0.1 * i) * sr)) / sr
    tone = sum(0.5**k * torch.sin(2 * math.pi * (110 * 2 ** (i / 4)) * (k + 1) * t) for k in range(4))
    noise = torch.randn(t.shape, generator=g) * (1 - t / t[-1]) ** 2  # decaying noise bursts
    for style, wave in (("tone", 0.25 * tone), ("noise", 0.3 * noise)):
        save_audio(root / style / f"{style}_{i}.wav", wave[None].float(), sr)
print(f"wrote 16 files in {root}")
EOF
ROWS+=("| synthetic audio (2 styles x 8 files) | $LAST_STATUS | $LAST_SECONDS | |")

COMMON=(data.audio_dir="$OUT/audio" data.valid_fraction=0.25 train.max_steps="$STEPS" train.cpu=$CPU_FLAG
  train.mixed_precision=bf16 train.validate_every=0 train.checkpoint_every="$STEPS" train.log_every=5
  train.num_workers=0)
train() {  # train NAME STAGE RECIPE_FILE [overrides...]
  local name=$1 stage=$2 recipe=$3
  shift 3
  local detail=""
  if run "train-$name" 90 "$PYTHON" -m audiogen.cli train "$stage" "$recipe" "${COMMON[@]}" "$@" \
    --out "$RUNS/$name"; then
    detail=$(summary "$RUNS/$name" 2>&1 | tail -1)
  fi
  ROWS+=("| \`audiogen train $stage $recipe\` (bf16, $STEPS steps) | $LAST_STATUS | $LAST_SECONDS | $detail |")
}
# every debug recipe, its stage from the file name; the plain autoencoder first (others start from it)
for recipe in recipes/debug/autoencoder.yaml $(ls recipes/debug/*.yaml | grep -vx recipes/debug/autoencoder.yaml); do
  name=$(basename "$recipe" .yaml)
  extra=()
  grep -q '^init:' "$recipe" && extra+=(init.autoencoder="$RUNS/autoencoder")
  case $name in
    autoencoder*) stage=autoencoder ;;
    diffusion*) stage=diffusion; extra+=(data.autoencoder="$RUNS/autoencoder" data.latent_cache="$RUNS/latent-cache") ;;
    vocoder*) stage=vocoder ;;
    classifier*) stage=classifier; extra+=(data.manifest=null) ;;
    *)
      ROWS+=("| \`$recipe\` | FAILED (no stage known for this file name: teach tools/gpu_smoke.sh) | | |")
      FAILED=1
      continue
      ;;
  esac
  train "$name" "$stage" "$recipe" ${extra[@]+"${extra[@]}"}
done

detail=""
if run generate 120 "$PYTHON" -m audiogen.cli generate --seconds 4 --num 2 --style piano --device "$DEVICE" \
  --out "$OUT/generated" --overwrite; then
  detail="$(find "$OUT/generated" -name '*.wav' | wc -l) WAV files in generated/"
fi
ROWS+=("| \`audiogen generate --seconds 4 --num 2 --style piano --device $DEVICE\` (bundled model) | $LAST_STATUS | $LAST_SECONDS | $detail |")

run bench_spectral 90 "$PYTHON" benchmarks/bench_spectral.py "${BENCH_SPEC[@]}"
ROWS+=("| \`python benchmarks/bench_spectral.py ${BENCH_SPEC[*]}\` | $LAST_STATUS | $LAST_SECONDS | table below |")
run bench_generate 120 "$PYTHON" benchmarks/bench_generate.py "${BENCH_GEN[@]}" --json "$OUT/bench_generate.json"
ROWS+=("| \`python benchmarks/bench_generate.py ${BENCH_GEN[*]}\` | $LAST_STATUS | $LAST_SECONDS | table below |")

REPORT="$OUT/report.md"
{
  echo "# GPU smoke report"
  echo
  echo "- command: \`tools/gpu_smoke.sh ${1:-}\` (device $DEVICE), $(date -u '+%Y-%m-%d %H:%M UTC'), total ${SECONDS} s"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "- machine: $("$PYTHON" -c "
import os, platform, torch
gpu = f'{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB' if torch.cuda.is_available() else 'no GPU'
print(f'{gpu}; {os.cpu_count()} CPUs; torch {torch.__version__} (CUDA {torch.version.cuda}); Python {platform.python_version()}')
" 2>&1 | tail -1)"
  echo
  echo "| step | result | seconds | detail |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  for bench in bench_spectral bench_generate; do
    echo
    echo "## $bench"
    echo
    echo '```'
    grep -v "^wrote " "$LOGS/$bench.log" 2>/dev/null | tail -n 40
    echo '```'
  done
  echo
  echo "Logs of every step: \`$LOGS/\`; training runs: \`$RUNS/\`."
} >"$REPORT"
echo
cat "$REPORT"
echo
if [ "$FAILED" -ne 0 ]; then
  echo "gpu_smoke.sh: some steps FAILED (see $REPORT and $LOGS/)" >&2
  exit 1
fi
echo "gpu_smoke.sh: all steps ok in ${SECONDS} s; report: $REPORT"
