"""How far the fast CPU path (bf16 weights + channels_last) lands from exact fp32, on many real photos.

`animegan bench` measures quality on one photo; this checks the same two torch paths on ``--count``
held-out photos at ``--size``² and prints one JSON line: the mean absolute difference (0-255) per
photo and over all of them.

    python benchmarks/precision_quality.py --model benchmarks/models/animeganv2-shinkai.safetensors \
        >> benchmarks/results/precision-quality-<date>.jsonl
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from animegan.compress.onnx_export import photo_tensor
from animegan.device import resolve_policy
from animegan.inference.backends import TorchBackend
from animegan.inference.stylizer import load_model
from animegan.io.discovery import list_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="shinkai")
    ap.add_argument("--photos", default="../shared/data/eval/animegan_test")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    module, _ = load_model(args.model)
    exact = TorchBackend(module, resolve_policy("cpu", "fp32"))
    fast = TorchBackend(module, resolve_policy("cpu", "bf16"))
    diffs = {}
    for path in list_images(args.photos, limit=args.count):
        x = photo_tensor(path, args.size, args.size)
        diffs[path.name] = float((fast(x) - exact(x)).abs().mean() * 127.5)
    print(json.dumps({"model": args.model, "size": args.size, "photos": len(diffs),
                      "mean_abs_255": round(float(np.mean(list(diffs.values()))), 3),
                      "worst": max(diffs.items(), key=lambda kv: kv[1]),
                      "per_photo": {k: round(v, 3) for k, v in diffs.items()}}))


if __name__ == "__main__":
    main()
