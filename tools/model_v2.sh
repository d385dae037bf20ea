#!/usr/bin/env bash
# Model v2 after the latent sweep (model card, "Latent sweep"): the chosen 64 x 2 autoencoder trained
# on, denoisers on its latents with a checkpoint about every CPU-hour, the FD of every checkpoint
# (4 seeds, style classifier and hand-made features), and the vocoder fine-tuned on the new data.
#
#   tools/model_v2.sh ae               # autoencoder 64 x 2, $AE_STEPS steps (default 12,000; resumes)
#   tools/model_v2.sh dn KIND [KEY=VALUE...]  # KIND = vpred | flow: recipes/diffusion_v2.yaml (resumes; a
#                                      # new run starts from $INIT's weights if given, e.g. weights/v2/denoiser-KIND;
#                                      # $DN_STEPS: its budget, default the recipe's; KEY=VALUE: more recipe overrides;
#                                      # $DN_FROM: the step of $INIT's weights, for fd and export below)
#   tools/model_v2.sh fd KIND STEP     # pipeline of checkpoint STEP + eval generate, seeds 0/1000/2000/3000
#                                      # (DN_FROM=S: the run went on from step S's weights, INIT, so its
#                                      # checkpoint STEP - S is step STEP; tools/fd_curve.py --continued)
#   tools/model_v2.sh fd v1            # the same for the first bundled model (the rebundling rule's reference,
#                                      # $V1, default runs/bundle-v1 from tools/v1_bundle.sh);
#                                      # FD_STEPS=S: S sampler steps instead of 8, reports in .../steps-S
#   tools/model_v2.sh vocoder          # recipes/vocoder_gl_gan.yaml from v1's vocoder, $VOCODER_STEPS steps (default 1000)
#   tools/model_v2.sh export STAGE     # STAGE = autoencoder | vocoder | sequence | denoiser KIND STEP: the EMA weights into
#                                      # weights/v2/STAGE (denoiser: weights/v2/denoiser-KIND; config.json +
#                                      # model.safetensors, committed; vocoder and denoiser in float16)
#   tools/model_v2.sh voceval VOC NAME # vocoder VOC alone on true mels: test pieces, Wesnoth, recordings' valid
#   tools/model_v2.sh aeeval           # autoencoder + vocoder ($VOCODER, default weights/v2/vocoder):
#                                      # eval reconstruct of the test pieces and the Wesnoth tracks
#   tools/model_v2.sh floor PIPE NAME  # the Wesnoth floor of pipeline folder PIPE (its VAE + vocoder of
#                                      # half the tracks against the other half, beside real-vs-real),
#                                      # $CROPS crops per track (default 4) into $REPORTS/floor/NAME-cCROPS
#   tools/model_v2.sh seq              # the stream's sequence model on the v2 latent (recipes/sequence_v2.yaml,
#                                      # $SEQ_STEPS steps, default the recipe's; resumes)
#   tools/model_v2.sh bundle KIND      # the v2 pipeline from weights/v2 (autoencoder, vocoder, denoiser-KIND,
#                                      # sequence) + the bundled classifier into $BUNDLE (default runs/bundle-v2),
#                                      # $BUNDLE_STEPS default sampler steps (default 8), CFG 1
#   tools/model_v2.sh streameval PIPE NAME  # the stream of pipeline folder PIPE as docs/generation.md and
#                                      # docs/benchmarks.md measure it: speed, memory 60 vs 600 s, a 600 s organ
#                                      # stream's joins and drift, FD beside the diffusion clips; $REPORTS/stream/NAME
#   .venv/bin/python tools/fd_curve.py runs/v2 vpred flow --json docs/reports/v2/fd_curve.json
#
# Data from tools/build_data_v2.sh in $DATA (default: data); runs in $RUNS (default: runs); reports
# in $REPORTS/KIND/step-STEP (default: runs/v2). One thread per run (OMP_NUM_THREADS=1);
# /usr/bin/time -v beside each log records its CPU time. Precision per stage: $AE_PRECISION and
# $VOCODER_PRECISION (no | bf16, default bf16); bf16 is not faster on every CPU, so measure it on the
# machine first (benchmarks/bench_train.py, docs/benchmarks.md "Every stage, float32 vs bf16").
# Once a stage is exported, weights/v2/STAGE is used in its place (the denoisers' autoencoder,
# the fd pipelines' vocoder).
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=$1
DATA=${DATA:-data} RUNS=${RUNS:-runs} REPORTS=${REPORTS:-runs/v2}
AG=.venv/bin/audiogen
AE=$RUNS/ae-v2-64x2-long
[ -f weights/v2/autoencoder/config.json ] && AE=weights/v2/autoencoder
AE_STEPS=${AE_STEPS:-12000} AE_PRECISION=${AE_PRECISION:-bf16}
VOCODER_STEPS=${VOCODER_STEPS:-1000} VOCODER_PRECISION=${VOCODER_PRECISION:-bf16}
V1=${V1:-runs/bundle-v1}   # the first bundled model, the rule's reference (tools/v1_bundle.sh writes it)
v1() { tools/v1_bundle.sh "$V1" > /dev/null; }
if [ -f weights/v2/vocoder/config.json ]; then V=weights/v2/vocoder; else V=$V1; v1; fi
VOCODER=${VOCODER:-$V}   # the vocoder of the fd pipelines and of aeeval
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
resume() { [ -d "$1/checkpoints" ] && echo --resume || true; }
timed() { local log=$1; shift; /usr/bin/time -v -o "$log.time" "$@" >>"$log" 2>&1; }
prediction() {
  case $1 in
  vpred) echo v_prediction ;;
  flow) echo flow_prediction ;;
  *) echo "model_v2.sh: unknown denoiser kind '$1' (vpred or flow)" >&2; exit 2 ;;
  esac
}

case $STAGE in
ae)
  mkdir -p "$RUNS"
  out=$RUNS/ae-v2-64x2-long
  timed "$out.log" $AG train autoencoder recipes/autoencoder_v2.yaml model.latent_dim=64 \
      model.time_downsample=2 data.manifest="$DATA/mixed_v2/manifest.jsonl" \
      data.mel_cache="$DATA/mixed_v2/mel_cache" train.mixed_precision="$AE_PRECISION" train.num_workers=0 \
      train.max_steps="$AE_STEPS" train.warmup_steps=500 train.validate_every=2000 --out "$out" $(resume "$out")
  ;;
dn)
  kind=$2 out=$RUNS/dn-v2-$2
  timed "$out.log" $AG train diffusion recipes/diffusion_v2.yaml data.autoencoder="$AE" \
      data.manifest="$DATA/corpus/manifest.jsonl" data.latent_cache="$DATA/latents_v2" \
      model.prediction_type="$(prediction "$kind")" ${INIT:+init.denoiser=$INIT} ${DN_STEPS:+train.max_steps=$DN_STEPS} "${@:3}" --out "$out" $(resume "$out")
  ;;
fd)
  if [ "$2" = v1 ]; then  # the first bundled model, the rule's reference
    v1; r=$REPORTS/v1 pipe=$V1
  else
    kind=$2 step=$(printf %08d "$3") local_step=$(printf %08d $(($3 - ${DN_FROM:-0})))
    prediction "$kind" > /dev/null
    r=$REPORTS/$kind/step-$step pipe=$RUNS/pipe-v2-$kind-$step
  fi
  n=${FD_STEPS:-8}; [ "$n" = 8 ] || r=$r/steps-$n
  mkdir -p "$r"
  [ -f "$pipe/model_index.json" ] || .venv/bin/python tools/bundle_default.py --autoencoder "$AE" \
      --denoiser "$RUNS/dn-v2-$kind/checkpoints/checkpoint-$local_step" --vocoder "$VOCODER" \
      --steps 8 --cfg-scale 1 --out "$pipe"
  [ -d "$pipe/classifier" ] || cp -r audiogen/assets/default/classifier "$pipe/"
  # one call per embedding for every seed still missing ($SEEDS: a subset first, the rest later):
  # the held-out crops, their embeddings and the floor are computed once per call
  todo=(); for seed in ${SEEDS:-0 1000 2000 3000}; do [ -f "$r/gen_seed$seed.json" ] || todo+=(--seed $seed); done
  [ ${#todo[@]} = 0 ] || $AG eval generate "$DATA/corpus/manifest.jsonl" --checkpoint "$pipe" --num 96 \
      --seconds 4 --steps $n --cfg-scale 1 "${todo[@]}" --json "$r/gen_seed{seed}.json" >> "$r/gen.txt"
  todo=(); for seed in ${SEEDS:-0 1000 2000 3000}; do [ -f "$r/gen_features_seed$seed.json" ] || todo+=(--seed $seed); done
  [ ${#todo[@]} = 0 ] || PYTHONPATH=benchmarks $AG eval generate "$DATA/corpus/manifest.jsonl" --checkpoint "$pipe" \
      --embedder feature_embedder:make --num 96 --seconds 4 --steps $n --cfg-scale 1 "${todo[@]}" \
      --json "$r/gen_features_seed{seed}.json" >> "$r/gen_features.txt"
  ;;
vocoder)
  v1; out=$RUNS/voc-v2
  timed "$out.log" $AG train vocoder recipes/vocoder_gl_gan.yaml data.manifest="$DATA/mixed_v2/manifest.jsonl" \
      init.vocoder="$V1" train.mixed_precision="$VOCODER_PRECISION" train.num_workers=0 train.max_steps="$VOCODER_STEPS" \
      --out "$out" $(resume "$out")
  ;;
voceval)
  r=$REPORTS/vocoder/$3
  mkdir -p "$r"
  [ -f "$r/corpus.json" ] || $AG eval reconstruct "$DATA/corpus/manifest.jsonl" --split test --max-clips 24 \
      --seconds 5 --no-vae --vocoder "$2" --json "$r/corpus.json" > "$r/corpus.txt"
  [ -f "$r/wesnoth.json" ] || $AG eval reconstruct "$DATA/wesnoth/manifest.jsonl" --split test --max-clips 40 \
      --seconds 10 --no-vae --vocoder "$2" --json "$r/wesnoth.json" > "$r/wesnoth.txt"
  [ -f "$r/recordings.json" ] || $AG eval reconstruct "$DATA/real_v2/manifest.jsonl" --split valid --max-clips 55 \
      --seconds 5 --no-vae --vocoder "$2" --json "$r/recordings.json" > "$r/recordings.txt"
  ;;
aeeval)
  # the autoencoder + vocoder on the held-out test pieces and the Wesnoth tracks, as the sweep's eval
  r=$REPORTS/autoencoder
  mkdir -p "$r"
  for m in corpus wesnoth; do
    n=24 s=5; [ $m = wesnoth ] && n=40 s=10
    [ -f "$r/recon_$m.json" ] || $AG eval reconstruct "$DATA/$m/manifest.jsonl" --autoencoder "$AE" \
        --vocoder "$VOCODER" --max-clips $n --seconds $s --json "$r/recon_$m.json" \
        --png "$r/recon_$m.png" > "$r/recon_$m.txt"
  done
  ;;
floor)
  # the floor does not depend on the denoiser: the few generated clips of these calls are not compared;
  # $CROPS crops of 4 s per held-out track (default 4, as the sweep)
  pipe=$2 c=${CROPS:-4}; r=$REPORTS/floor/$3-c$c
  mkdir -p "$r"
  [ -d "$pipe/classifier" ] || cp -r audiogen/assets/default/classifier "$pipe/"
  [ -f "$r/floor_wesnoth.json" ] || $AG eval generate "$DATA/wesnoth/manifest.jsonl" --checkpoint "$pipe" \
      --num 6 --seconds 4 --steps 2 --crops-per-file $c --json "$r/floor_wesnoth.json" > "$r/floor_wesnoth.txt"
  [ -f "$r/floor_wesnoth_features.json" ] || PYTHONPATH=benchmarks $AG eval generate "$DATA/wesnoth/manifest.jsonl" \
      --checkpoint "$pipe" --embedder feature_embedder:make --num 6 --seconds 4 --steps 2 --crops-per-file $c \
      --json "$r/floor_wesnoth_features.json" > "$r/floor_wesnoth_features.txt"
  ;;
seq)
  out=$RUNS/sequence-v2
  timed "$out.log" $AG train sequence recipes/sequence_v2.yaml data.autoencoder="$AE" \
      data.manifest="$DATA/corpus/manifest.jsonl" data.latent_cache="$DATA/latents_v2" \
      ${SEQ_STEPS:+train.max_steps=$SEQ_STEPS} --out "$out" $(resume "$out")
  ;;
bundle)
  prediction "${2:-}" > /dev/null
  out=${BUNDLE:-runs/bundle-v2}
  .venv/bin/python tools/bundle_default.py --autoencoder weights/v2/autoencoder --denoiser "weights/v2/denoiser-$2" \
      --vocoder weights/v2/vocoder --sequence weights/v2/sequence --sequence-head-steps 8 --fp16 vocoder \
      --fp16 denoiser --steps "${BUNDLE_STEPS:-8}" --cfg-scale 1 --out "$out"
  [ -d "$out/classifier" ] || cp -r audiogen/assets/default/classifier "$out/"
  ;;
streameval)
  pipe=$2 r=$REPORTS/stream/$3
  mkdir -p "$r"
  [ -f "$r/speed.json" ] || .venv/bin/python benchmarks/bench_generate.py --checkpoint "$pipe" --sequence "$pipe" \
      --stream 30 --stream-head-steps 8 --threads 1 --devices cpu --json "$r/speed.json" > "$r/speed.txt"
  [ -f "$r/memory.json" ] || .venv/bin/python benchmarks/bench_generate.py --checkpoint "$pipe" --sequence "$pipe" \
      --stream-memory 60,600 --threads 1 --devices cpu --json "$r/memory.json" > "$r/memory.txt"
  [ -f "$r/check_organ_600s.json" ] || .venv/bin/python benchmarks/check_stream.py --checkpoint "$pipe" \
      --sequence "$pipe" --style organ --seconds 600 --threads 1 --json "$r/check_organ_600s.json" > "$r/check.txt"
  [ -f "$r/stream_fd.json" ] || .venv/bin/python benchmarks/stream_fd.py "$DATA/corpus/manifest.jsonl" \
      --checkpoint "$pipe" --per-style 16 --crops-per-file 1 --json "$r/stream_fd.json" > "$r/stream_fd.txt"
  ;;
export)
  case ${2:-} in
  autoencoder) src=$RUNS/ae-v2-64x2-long ;;
  vocoder) src=$RUNS/voc-v2 ;;
  sequence) src=$RUNS/sequence-v2 ;;
  denoiser) prediction "${3:-}" > /dev/null  # export denoiser KIND STEP: that checkpoint's EMA weights
    src=$RUNS/dn-v2-$3/checkpoints/checkpoint-$(printf %08d $((${4:?export denoiser KIND STEP} - ${DN_FROM:-0}))) ;;
  *) echo "model_v2.sh: export autoencoder, vocoder, sequence or denoiser, not '${2:-}'" >&2; exit 2 ;;
  esac
  # the vocoder's and the sequence model's parameters in float16, as the bundle stores them;
  # a denoiser checkpoint in float16 too, into weights/v2/denoiser-KIND (a point to go on from with
  # init.denoiser, loaded back as float32)
  dest=weights/v2/$2; [ "$2" = denoiser ] && dest=weights/v2/denoiser-$3
  .venv/bin/python -c 'import sys, torch; from audiogen.hub import load_model
dtype = torch.float16 if sys.argv[2] in ("vocoder", "denoiser", "sequence") else None
print(load_model(sys.argv[1], sys.argv[2]).save_pretrained(sys.argv[3], parameter_dtype=dtype))' \
      "$src" "$2" "$dest"
  ;;
*) echo "model_v2.sh: unknown stage '$STAGE' (ae, dn, fd, vocoder, voceval, aeeval, floor, seq, bundle, streameval or export)" >&2; exit 2 ;;
esac
