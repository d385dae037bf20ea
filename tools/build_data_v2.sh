#!/usr/bin/env bash
# Build the training data of model v2 (docs/data.md, "Model v2 data"):
#   OUT/corpus/manifest.jsonl      the whole default corpus (483 pieces x 6 instruments, split by piece)
#   OUT/real_v2/manifest.jsonl     real recordings of ten Debian packages, 10 % of each package's files
#                                  held out for validation (audiogen data scan per package)
#   OUT/mixed_v2/manifest.jsonl    both together (autoencoder and vocoder training)
#   OUT/wesnoth/manifest.jsonl     the Wesnoth soundtrack, every file in the test split (held out of
#                                  all training: the out-of-domain test set)
# Usage: tools/build_data_v2.sh [OUT]   (default: data). Needs the packages below (root installs them);
# safe to run again (the corpus build resumes, scans are redone).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data}
AG=.venv/bin/audiogen
PACKAGES=(ufoai-music singularity-music warzone2100-music hyperrogue-music nexuiz-music planetblupi-music-ogg
          fb-music-high xblast-tnt-musics hydrogen-drumkits sound-theme-freedesktop wesnoth-1.16-music unzip ffmpeg)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "build_data_v2.sh: install ${missing[*]} (apt-get install)" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 1. The default corpus (about 15 min to an hour on 2 cores).
$AG data build-default --out "$OUT/corpus" --workers 2

# 2. Real recordings: one folder per package, links to the installed files, archives unpacked,
#    formats libsndfile cannot read rendered to FLAC with FFmpeg.
S="$OUT/real_v2/src"; rm -rf "$S"; mkdir -p "$S"
mkdir -p "$S"/{ufoai,singularity,warzone2100,hyperrogue,nexuiz,planetblupi,frozen-bubble,xblast,hydrogen,freedesktop}
unzip -qjo /usr/share/games/ufoai/base/0music.pk3 'music/*' -d "$S/ufoai"
unzip -qjo /usr/share/games/nexuiz/data/music.pk3 'sound/cdtracks/*' -d "$S/nexuiz"
find /usr/share/games/singularity/music -name '*.ogg' -exec ln -sf {} "$S/singularity/" \;
find /usr/share/games/warzone2100/music -name '*.opus' -exec ln -sf {} "$S/warzone2100/" \;
ln -sf /usr/share/hyperrogue/music/*.ogg "$S/hyperrogue/"
ln -sf /usr/share/planetblupi/music/*.ogg "$S/planetblupi/"
ln -sf /usr/share/sounds/freedesktop/stereo/*.oga "$S/freedesktop/"
# Hydrogen's drum kits: one folder per kit (sample names repeat across kits).
for kit in /usr/share/hydrogen/data/drumkits/*/; do
  k=$(basename "$kit" | tr -c 'A-Za-z0-9\n' '_'); mkdir -p "$S/hydrogen/$k"
  find "$kit" -maxdepth 1 \( -iname '*.wav' -o -iname '*.flac' \) -exec ln -sf {} "$S/hydrogen/$k/" \;
done
# Frozen Bubble's tracker module, rendered by FFmpeg's libopenmpt; XBlast's songs are raw 8-bit
# unsigned mono PCM at 22,050 Hz.
ffmpeg -hide_banner -loglevel error -y -i /usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.xm \
    -ar 22050 "$S/frozen-bubble/frozen-mainzik-2p.flac"
for f in /usr/share/games/xblast-tnt/sounds/xbsng*.raw; do
  ffmpeg -hide_banner -loglevel error -y -f u8 -ar 22050 -ac 1 -i "$f" "$S/xblast/$(basename "$f" .raw).flac"
done

# 3. One scan per package, so every package holds out its own 10 % for validation; then one manifest.
M="$OUT/real_v2/manifests"; rm -rf "$M"; mkdir -p "$M/rejected"
for d in "$S"/*/; do
  p=$(basename "$d")
  $AG data scan "$d" --out "$M/$p.jsonl" --report "$M/rejected/$p.jsonl" --group-by none --label-by none \
      --valid-fraction 0.1 --test-fraction 0.0 --no-progress
done
.venv/bin/python -c 'import sys; from audiogen.data.manifest import read_manifest as r, write_manifest as w
w(sys.argv[1], [e for f in sorted(sys.argv[2:]) for e in r(f)])' "$OUT/real_v2/manifest.jsonl" "$M"/*.jsonl
# (--extra-train-hours above what there is: every recording's train files)
.venv/bin/python tools/mix_manifests.py "$OUT/corpus/manifest.jsonl" "$OUT/real_v2/manifest.jsonl" \
    --extra-train-hours 1000 --out "$OUT/mixed_v2/manifest.jsonl"

# 4. The out-of-domain test set.
W="$OUT/wesnoth/src"; rm -rf "$W"; mkdir -p "$W"
ln -sf /usr/share/games/wesnoth/1.16/data/core/music/*.ogg "$W/"
$AG data scan "$W" --out "$OUT/wesnoth/manifest.jsonl" --group-by none --label-by none \
    --valid-fraction 0.0 --test-fraction 1.0 --no-progress
