#!/usr/bin/env bash
# Writes the product's own use case as an ANN data set: embeddings from a tripindex-trained model.
#
#   Benchmarks/scripts/make_reid_embeddings.sh OUT_DIR [TEST_IDENTITIES] [DISTRACTORS]
#
# Generates a synthetic re-ID set (tripindex datasets synth-reid, seed 7; defaults: 9,000 test
# identities and 20,000 distractors, about 92k gallery and 36k query images), trains the default
# embedder (batch-hard, soft margin, 96 -> 256 -> 64) on its train split, embeds gallery and
# query images, and writes OUT_DIR/base.fvecs (the gallery) and OUT_DIR/queries.fvecs (10,000
# query images drawn at random; query images are never in the gallery).
set -euo pipefail
out=${1:?usage: make_reid_embeddings.sh OUT_DIR [TEST_IDENTITIES] [DISTRACTORS]}
identities=${2:-9000}
distractors=${3:-20000}
tool=${TRIPINDEX:-$(dirname "$0")/../../.build/release/tripindex}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tool" datasets synth-reid --out "$work/reid" --seed 7 --train-identities 200 \
  --test-identities "$identities" --distractors "$distractors"
"$tool" train "$work/reid/train" --out "$work/model.tpm" --quiet
"$tool" embed "$work/reid/gallery" --model "$work/model.tpm" --out "$work/gallery.fvecs" --quiet
"$tool" embed "$work/reid/query" --model "$work/model.tpm" --out "$work/query.fvecs" --quiet
mkdir -p "$out"
python3 - "$work" "$out" <<'PY'
import sys
import numpy as np
work, out = sys.argv[1], sys.argv[2]
def rows(path):
    a = np.fromfile(path, dtype="<f4")
    d = a[:1].view("<i4")[0]
    return a.reshape(-1, d + 1)
gallery, query = rows(f"{work}/gallery.fvecs"), rows(f"{work}/query.fvecs")
gallery.tofile(f"{out}/base.fvecs")
pick = np.random.default_rng(0).permutation(len(query))[:10000]
query[pick].tofile(f"{out}/queries.fvecs")
print(f"wrote {len(gallery)} gallery embeddings and {len(pick)} queries ({gallery.shape[1] - 1}-d) to {out}")
PY
