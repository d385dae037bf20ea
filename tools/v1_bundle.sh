#!/usr/bin/env bash
# The first bundled model (v1, docs/model_v1.md) as a pipeline folder, from the repository's history:
#
#   tools/v1_bundle.sh [OUT]      # OUT default runs/bundle-v1; an existing OUT is left as it is
#
# Then `audiogen generate --checkpoint OUT ...` generates with v1, and tools/model_v2.sh uses OUT as the
# rebundling rule's reference ($V1). Needs a clone with history (not a shallow one).
set -euo pipefail
cd "$(dirname "$0")/.."
V1_COMMIT=e534240   # the last commit with v1 in audiogen/assets/default
out=${1:-runs/bundle-v1}
if [ -f "$out/model_index.json" ]; then echo "$out"; exit 0; fi
git cat-file -e "$V1_COMMIT^{commit}" 2>/dev/null \
  || { echo "v1_bundle.sh: commit $V1_COMMIT not in this clone (fetch its history: git fetch --unshallow)" >&2; exit 1; }
mkdir -p "$out"
git archive "$V1_COMMIT" audiogen/assets/default | tar -x --strip-components=3 --exclude=MODEL_CARD.md -C "$out"
echo "$out"
