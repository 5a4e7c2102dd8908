"""A model exported with `tripindex export-model`, run by numpy alone: loads the file with the
`safetensors` package, applies the network (input standardisation, Linear, BatchNorm with its
running statistics, ReLU, optional L2 normalisation) in float64, and compares with
`tripindex embed` on the same vectors.

    pip install numpy safetensors
    python3 check_safetensors_numpy.py MODEL.tpm VECTORS.npy [--rows 100] [--tripindex PATH] [--pytorch [--head]]

With --pytorch, the file is `export-model --pytorch`'s plain nn.Sequential state dict, applied
as PyTorch applies that Sequential in eval mode (keys 0.weight, 1.running_mean, ...; the input
standardisation folded into the first Linear), the README's snippet without torch. With --head
(a softmax-surrogate or joint model), the file is `export-model --pytorch --head`'s, and the
softmax head's logits of the Sequential's output are also compared with the head the tripindex
layout holds applied to `tripindex embed`'s embeddings, and classifier.pids with the header's pids.

Prints the largest absolute difference; exits 1 above 1e-5. Needs numpy and safetensors;
tripindex does not.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def forward(tensors, header, x):
    architecture = header["architecture"]
    x = (x - tensors["input.mean"]) * tensors["input.scale"]
    index = 0
    for hidden in architecture["hidden"]:
        x = x @ tensors[f"layers.{index}.weight"].T.astype(np.float64) + tensors[f"layers.{index}.bias"]
        index += 1
        if architecture["batch_norm"]:
            mean = tensors[f"layers.{index}.running_mean"]
            var = tensors[f"layers.{index}.running_var"]
            x = (x - mean) / np.sqrt(var + 1e-5) * tensors[f"layers.{index}.weight"] + tensors[f"layers.{index}.bias"]
            index += 1
        x = np.maximum(x, 0)
        index += 1  # ReLU
    x = x @ tensors[f"layers.{index}.weight"].T.astype(np.float64) + tensors[f"layers.{index}.bias"]
    if architecture["normalize_output"]:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x


def forward_sequential(tensors, metadata, x):
    """nn.Sequential(Linear, BatchNorm1d, ReLU, ..., Linear) in eval mode, by its state dict."""
    index = 0
    while f"{index + 3}.weight" in tensors:
        x = x @ tensors[f"{index}.weight"].T + tensors[f"{index}.bias"]
        bn = index + 1
        x = (x - tensors[f"{bn}.running_mean"]) / np.sqrt(tensors[f"{bn}.running_var"] + 1e-5) \
            * tensors[f"{bn}.weight"] + tensors[f"{bn}.bias"]
        x = np.maximum(x, 0)
        index += 3
    x = x @ tensors[f"{index}.weight"].T + tensors[f"{index}.bias"]
    if metadata["normalize_output"] == "true":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("vectors")
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--pytorch", action="store_true")
    parser.add_argument("--head", action="store_true")
    args = parser.parse_args()
    if args.head and not args.pytorch:
        parser.error("--head goes with --pytorch")
    with tempfile.TemporaryDirectory() as scratch:
        exported = os.path.join(scratch, "model.safetensors")
        subprocess.run([args.tripindex, "export-model", args.model, "--out", exported], check=True,
                       stdout=subprocess.DEVNULL)
        inputs = np.load(args.vectors)[:args.rows].astype(np.float32)
        sample = os.path.join(scratch, "sample.npy")
        np.save(sample, inputs)
        embedded = os.path.join(scratch, "embedded.npy")
        subprocess.run([args.tripindex, "embed", sample, "--model", exported, "--out", embedded],
                       check=True, stdout=subprocess.DEVNULL)
        ours = np.load(embedded)
        if args.pytorch:
            sequential = os.path.join(scratch, "sequential.safetensors")
            subprocess.run([args.tripindex, "export-model", args.model, "--out", sequential,
                            "--pytorch"] + (["--head"] if args.head else []),
                           check=True, stdout=subprocess.DEVNULL)
            state = {k: v.astype(np.float64) for k, v in load_file(sequential).items()
                     if not k.endswith("num_batches_tracked")}
            # As the README: the head's keys come out before load_state_dict.
            head = {k: state.pop(k) for k in list(state) if k.startswith("classifier.")}
            with safe_open(sequential, "np") as f:
                metadata = f.metadata()
            reference = forward_sequential(state, metadata, inputs.astype(np.float64))
            difference = float(np.max(np.abs(reference - ours)))
            print(f"{len(inputs)} vectors through the nn.Sequential state dict: "
                  f"largest |numpy - tripindex| = {difference:.2e}")
            if args.head:
                layout = load_file(exported)
                with safe_open(exported, "np") as f:
                    header = json.loads(f.metadata()["tripindex_header"])
                logits = reference @ head["classifier.weight"].T + head["classifier.bias"]
                ours_logits = ours.astype(np.float64) @ layout["classifier.weight"].T.astype(np.float64) \
                    + layout["classifier.bias"]
                head_difference = float(np.max(np.abs(logits - ours_logits)))
                pids_match = head["classifier.pids"].astype(np.int64).tolist() == header["classifier"]["pids"]
                print(f"softmax head, {logits.shape[1]} classes: largest |numpy - tripindex| logit "
                      f"difference = {head_difference:.2e}; pids {'match' if pids_match else 'DIFFER'}")
                difference = max(difference, head_difference / 10) if pids_match else float("inf")
            sys.exit(0 if difference <= 1e-5 else 1)
        tensors = {k: v.astype(np.float64) for k, v in load_file(exported).items()}
        with safe_open(exported, "np") as f:
            header = json.loads(f.metadata()["tripindex_header"])
    reference = forward(tensors, header, inputs.astype(np.float64))
    difference = float(np.max(np.abs(reference - ours)))
    print(f"{len(inputs)} vectors, {header['architecture']}: largest |numpy - tripindex| = {difference:.2e}")
    sys.exit(0 if difference <= 1e-5 else 1)


if __name__ == "__main__":
    main()
