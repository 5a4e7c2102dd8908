"""Reading TEXMEX .fvecs/.ivecs files with numpy (shared by the comparison scripts)."""
import numpy as np


def read_fvecs(path):
    raw = np.fromfile(path, dtype="<i4")
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view("<f4").copy()


def read_ivecs(path):
    raw = np.fromfile(path, dtype="<i4")
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy()
