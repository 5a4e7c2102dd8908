"""Writes the small HDF5 files the VectorIO and TripIndex tests read, with h5py (PyPI), the
way ann-benchmarks writes its data sets. Values follow formulas the tests recompute:

    train[i, j] = 0.5 * i - j        test[i, j] = 0.25 * i + j - 1

    python3 make_hdf5_fixtures.py    # writes the *.hdf5 files beside this script
"""
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def train(rows=40, columns=4, dtype="float32"):
    return (0.5 * np.arange(rows)[:, None] - np.arange(columns)[None, :]).astype(dtype)


def test(rows=6, columns=4, dtype="float32"):
    return (0.25 * np.arange(rows)[:, None] + np.arange(columns)[None, :] - 1).astype(dtype)


def clustered(rows, columns, seed):
    """Gaussian clusters: the small data set `annbench` is tested on."""
    generator = np.random.default_rng(seed)
    centres = generator.normal(size=(12, columns)) * 3
    labels = generator.integers(0, len(centres), size=rows)
    return (centres[labels] + generator.normal(size=(rows, columns))).astype("float32")


def ann_file(name, metric, fixed_length_attribute=False, base=None, queries=None):
    base = train() if base is None else base
    queries = test() if queries is None else queries
    if metric == "angular":
        if not base[0].any():
            base[0] = 1.0  # no zero vectors: cosine needs a direction
        unit_base = base / np.linalg.norm(base, axis=1, keepdims=True)
        unit_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        distances = 1.0 - unit_queries.astype(np.float64) @ unit_base.astype(np.float64).T
    else:
        difference = queries.astype(np.float64)[:, None, :] - base.astype(np.float64)[None, :, :]
        distances = np.sqrt((difference ** 2).sum(axis=2))
    neighbors = np.argsort(distances, axis=1, kind="stable")[:, :10]
    with h5py.File(os.path.join(HERE, name), "w") as f:
        f.attrs["distance"] = np.bytes_(metric) if fixed_length_attribute else metric
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=base)
        f.create_dataset("test", data=queries)
        f.create_dataset("neighbors", data=neighbors.astype("int32"))
        f.create_dataset("distances", data=np.take_along_axis(distances, neighbors, 1).astype("float32"))


def main():
    ann_file("ann-euclidean.hdf5", "euclidean")
    ann_file("ann-angular.hdf5", "angular", fixed_length_attribute=True)
    for metric, seed in (("euclidean", 1), ("angular", 2)):
        points = clustered(630, 8, seed)
        ann_file(f"annbench-{metric}.hdf5", metric, base=points[:600], queries=points[600:])
    with h5py.File(os.path.join(HERE, "layouts.hdf5"), "w") as f:
        f.create_dataset("plain", data=train())
        f.create_dataset("float64", data=train(dtype="float64"))
        f.create_dataset("int32", data=np.repeat(np.arange(40)[:, None], 4, axis=1).astype("int32"))
        f.create_dataset("uint8", data=np.full((3, 4), 255, dtype="uint8"))
        f.create_dataset("by_columns_gzip", data=train(), chunks=(40, 1), compression="gzip")
        f.create_dataset("by_rows", data=train(), chunks=(1, 4))
        f.create_dataset("odd_chunks", data=train(), chunks=(7, 3), compression="gzip", shuffle=True)
        f.create_dataset("float16", data=train(dtype="float16"))
        f.create_dataset("rank1", data=np.arange(5, dtype="float32"))
        f.create_dataset("rank3", data=np.zeros((2, 3, 4), dtype="float32"))
        f.create_dataset("empty", data=np.zeros((0, 4), dtype="float32"))
        f.create_dataset("strings", data=np.array([b"a", b"b"]))
        f.create_dataset("compound", data=np.zeros(3, dtype=[("x", "f4"), ("y", "i4")]))
        bad = train()
        bad[3, 2] = np.nan
        f.create_dataset("nan_row3", data=bad)
        f.create_dataset("float64_huge_row2", data=np.array([[0, 0], [0, 0], [1e300, 0]], dtype="float64"))
        f.create_dataset("int64_big_row1", data=np.array([[0, 0], [1 << 25, 0]], dtype="int64"))
        f.create_group("group")
        f.attrs["number"] = 3


if __name__ == "__main__":
    main()
