"""Exports scikit-learn's copy of the UCI optdigits set to datasets/optdigits/ (run once).

digits.npy  : 1797 x 64 float32, pixel counts 0-16 of 8x8 images, in scikit-learn's order
labels.csv  : name,pid,camera with pid = the digit (0-9) and no camera
../probes/digits-first3.vec : rows 0-2 of the set, as text, for the demo query

Requires scikit-learn (PyPI); the data ships inside the wheel, no download happens.
"""
import os
import numpy as np
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
digits = load_digits()
data = digits.data.astype(np.float32)
out = os.path.join(here, "optdigits")
os.makedirs(out, exist_ok=True)
np.save(os.path.join(out, "digits.npy"), data)
with open(os.path.join(out, "labels.csv"), "w") as f:
    f.write("name,pid,camera\n")
    for i, t in enumerate(digits.target):
        f.write(f"digit-{i:04d},{int(t)},\n")
with open(os.path.join(here, "probes", "digits-first3.vec"), "w") as f:
    for row in data[:3]:
        f.write(" ".join(str(int(v)) for v in row) + "\n")
print(data.shape, np.bincount(digits.target))
