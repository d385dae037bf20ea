#!/usr/bin/env bash
# The latent sweep of model v2 (model card, "Latent sweep"): per latent shape an autoencoder, a short
# denoiser on its latents at an equal CPU budget, and the evaluations that choose between them.
#
#   tools/latent_sweep.sh ae   NAME   # NAME = DIMxDOWN, e.g. 64x4, 64x2, 80x2: autoencoder, 6000 steps
#   tools/latent_sweep.sh dn   NAME STEPS   # denoiser on NAME's latents (the sweep: 64x4 4800, 64x2 / 80x2 2820)
#   tools/latent_sweep.sh eval NAME   # pipeline folder + eval reconstruct (test pieces, Wesnoth)
#                                     # + eval generate (seeds 0 and 1000, classifier and features)
#                                     # + the Wesnoth floor; NAME=v1: the first bundled model (tools/v1_bundle.sh)
#
# Every step resumes where it stopped (train --resume; finished evaluations are skipped). Data from
# tools/build_data_v2.sh in $DATA (default: data); runs in $RUNS (default: runs); reports in
# $REPORTS/NAME (default: runs/sweep). Each run uses one thread (OMP_NUM_THREADS=1) so three shapes can
# train side by side on 2 cores; /usr/bin/time -v beside each log records its CPU time (LOG.time is
# created when the run starts and complete once it holds an "Exit status" line).
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=$1 NAME=$2
DATA=${DATA:-data} RUNS=${RUNS:-runs} REPORTS=${REPORTS:-runs/sweep}
AG=.venv/bin/audiogen
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DIM=${NAME%x*} DOWN=${NAME#*x}
resume() { [ -d "$1/checkpoints" ] && echo --resume || true; }
timed() { local log=$1; shift; /usr/bin/time -v -o "$log.time" "$@" >>"$log" 2>&1; }

case $STAGE in
ae)
  out=$RUNS/ae-v2-$NAME
  mkdir -p "$RUNS"
  timed "$out.log" $AG train autoencoder recipes/autoencoder_v2.yaml model.latent_dim="$DIM" \
      model.time_downsample="$DOWN" data.manifest="$DATA/mixed_v2/manifest.jsonl" \
      data.mel_cache="$DATA/mixed_v2/mel_cache" train.mixed_precision="${PRECISION:-bf16}" \
      train.num_workers=0 --out "$out" $(resume "$out")
  ;;
dn)
  out=$RUNS/dn-v2-$NAME
  timed "$out.log" $AG train diffusion recipes/diffusion.yaml data.autoencoder="$RUNS/ae-v2-$NAME" \
      data.manifest="$DATA/corpus/manifest.jsonl" data.latent_cache="$DATA/latents_v2_$NAME" \
      model.channels=64 train.batch_size=16 data.segment_seconds=4.0 train.lr=5e-4 train.warmup_steps=300 \
      train.max_steps="$3" train.validate_every=500 train.checkpoint_every=500 train.num_workers=0 \
      train.log_with=null --out "$out" $(resume "$out")
  ;;
eval)
  r=$REPORTS/$NAME pipe=$RUNS/pipe-v2-$NAME
  V1=${V1:-runs/bundle-v1}; tools/v1_bundle.sh "$V1" > /dev/null  # the first bundled model (v1)
  [ "$NAME" = v1 ] && pipe=$V1
  mkdir -p "$r"
  [ -f "$pipe/model_index.json" ] || .venv/bin/python tools/bundle_default.py \
      --autoencoder "$RUNS/ae-v2-$NAME" --denoiser "$RUNS/dn-v2-$NAME" --vocoder "$V1" \
      --steps 8 --cfg-scale 1 --out "$pipe"
  [ -d "$pipe/classifier" ] || cp -r audiogen/assets/default/classifier "$pipe/"
  for m in corpus wesnoth; do
    n=24 s=5; [ $m = wesnoth ] && n=40 s=10
    [ -f "$r/recon_$m.json" ] || $AG eval reconstruct "$DATA/$m/manifest.jsonl" --autoencoder "$pipe" \
        --max-clips $n --seconds $s --json "$r/recon_$m.json" --png "$r/recon_$m.png" > "$r/recon_$m.txt"
  done
  for seed in 0 1000; do
    [ -f "$r/gen_seed$seed.json" ] || $AG eval generate "$DATA/corpus/manifest.jsonl" --checkpoint "$pipe" \
        --num 96 --seconds 4 --steps 8 --cfg-scale 1 --seed $seed --json "$r/gen_seed$seed.json" > "$r/gen_seed$seed.txt"
  done
  [ -f "$r/gen_features_seed0.json" ] || PYTHONPATH=benchmarks $AG eval generate "$DATA/corpus/manifest.jsonl" \
      --checkpoint "$pipe" --embedder feature_embedder:make --num 96 --seconds 4 --steps 8 --cfg-scale 1 \
      --seed 0 --json "$r/gen_features_seed0.json" > "$r/gen_features_seed0.txt"
  # Out of domain: the floor (VAE + vocoder of half B) against real-vs-real on the Wesnoth tracks;
  # the few generated clips of this call are not part of the comparison.
  [ -f "$r/floor_wesnoth.json" ] || $AG eval generate "$DATA/wesnoth/manifest.jsonl" --checkpoint "$pipe" \
      --num 6 --seconds 4 --steps 2 --crops-per-file 4 --json "$r/floor_wesnoth.json" > "$r/floor_wesnoth.txt"
  [ -f "$r/floor_wesnoth_features.json" ] || PYTHONPATH=benchmarks $AG eval generate "$DATA/wesnoth/manifest.jsonl" \
      --checkpoint "$pipe" --embedder feature_embedder:make --num 6 --seconds 4 --steps 2 --crops-per-file 4 \
      --json "$r/floor_wesnoth_features.json" > "$r/floor_wesnoth_features.txt"
  ;;
*) echo "latent_sweep.sh: unknown stage '$STAGE' (ae, dn or eval)" >&2; exit 2 ;;
esac
