"""BLAS kernels for fair side-by-side timings against numpy.

Some machines pin OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) because older OpenBLAS builds compute
wrong results or crash with the kernels they would pick there. tripindex links the system OpenBLAS
(Debian 12: 0.3.21, one of those builds), so it must keep the pin. A current numpy bundles a current
OpenBLAS that picks correct, faster kernels by itself, and the pin only slows it. So the numpy
comparisons run numpy unpinned and tripindex pinned — each with the fastest kernels that are correct
for it:

    import blas_env; blas_env.unpin_for_numpy()   # first thing, before numpy is imported
    subprocess.run([tool, ...], env=blas_env.tool_env())
    print(blas_env.describe())

(FAISS's wheel bundles an older OpenBLAS, 0.3.15, which without the pin falls back to generic
kernels on some CPUs; the FAISS comparisons keep the pin, its fastest correct setting.)
"""
import os
import sys

PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SAVED = "TRIPINDEX_SAVED_"


def unpin_for_numpy():
    """Re-runs this script without the pins (remembering them for tripindex), once; with
    `--same-kernels` on the command line numpy keeps the pin (both sides on the same kernels)."""
    if "--same-kernels" in sys.argv or not any(name in os.environ for name in PINS):
        return
    env = dict(os.environ)
    for name in PINS:
        if name in env:
            env[SAVED + name] = env.pop(name)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def tool_env():
    """The environment for tripindex subprocesses: the machine's pins restored."""
    env = dict(os.environ)
    for name in PINS:
        if SAVED + name in env:
            env[name] = env[SAVED + name]
    return env


def describe():
    """One line naming the kernels on each side."""
    pinned = {name: os.environ[SAVED + name] for name in PINS if SAVED + name in os.environ}
    pinned = pinned or {name: os.environ[name] for name in PINS if name in os.environ}
    ours = "tripindex: system OpenBLAS" + (f" with {pinned}" if pinned else ", kernels as it picks them")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ours + "; numpy: kernels as its OpenBLAS picks them (pip install threadpoolctl to name them)"
    libraries = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                 for i in threadpool_info() if i.get("user_api") == "blas"]
    return ours + "; numpy: " + (", ".join(libraries) or "no BLAS found")
