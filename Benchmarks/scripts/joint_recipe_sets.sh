#!/usr/bin/env bash
# The three re-ID sets the joint recipe is compared on (triplet vs surrogate vs joint, 3 seeds,
# `tripindex benchmark`): the shipped synth-reid; a harder variant of its generator (10 cameras,
# camera distortions and offsets 1.8× stronger); and the optdigits with a seen-class split
# (half the samples of every digit to train/, the rest to query/ (camera 1) and gallery/
# (camera 2); pid = digit + 1). Needs numpy. Usage: joint_recipe_sets.sh [OUT] [TOOL]
set -euo pipefail
OUT=${1:-out/joint}
TOOL=${2:-.build/release/tripindex}
mkdir -p "$OUT"
rm -rf "$OUT/synth-hard" "$OUT/digits-split"
"$TOOL" datasets synth-reid --out "$OUT/synth-hard" --cameras 10 --camera-distortion 1.8
python3 - "$OUT/digits-split" <<'PY'
import csv, os, sys
import numpy as np
out = sys.argv[1]
x = np.load('datasets/optdigits/digits.npy').astype('<f4')
pids = np.array([int(r[1]) for r in list(csv.reader(open('datasets/optdigits/labels.csv')))[1:]])
order = np.random.default_rng(7).permutation(len(x))
train, rest = order[:len(x) // 2], order[len(x) // 2:]
query, gallery = rest[:len(rest) // 5], rest[len(rest) // 5:]
for name, rows, camera in [('train', train, None), ('query', query, 1), ('gallery', gallery, 2)]:
    os.makedirs(f'{out}/{name}', exist_ok=True)
    np.save(f'{out}/{name}/digits.npy', x[rows])
    with open(f'{out}/{name}/labels.csv', 'w') as f:
        f.write('name,pid,camera\n')
        for k, i in enumerate(rows):
            f.write(f'{name}-{i},{pids[i] + 1},{camera or 1 + k % 2}\n')
PY
for set in datasets/synth-reid "$OUT/synth-hard" "$OUT/digits-split"; do
  echo "== $set"
  "$TOOL" benchmark "$set" --quiet | grep -E "^(method|raw exact |triplet exact |surrogate exact |joint exact )|training time"
done
