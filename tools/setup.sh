#!/usr/bin/env bash
# Install everything audiogen needs on a fresh Debian/Ubuntu machine:
#   1. system packages: FluidSynth + the FluidR3 GM SoundFont (default corpus), the freedesktop sound
#      theme (real recorded OGGs used by the tests), libsndfile, Chromium + chromedriver (the web
#      app's browser tests), FFmpeg (Gradio's streaming audio output: the Stream tab);
#   2. a virtual environment in .venv with audiogen (editable) and its test extra.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(fluidsynth fluid-soundfont-gm sound-theme-freedesktop libsndfile1 chromium chromium-driver ffmpeg)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup.sh: missing system packages ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup.sh: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup.sh: ready (.venv)"
