"""Peak memory of opening a huge image with ``max_side`` and preparing it for the network.

Writes a SIDE×SIDE PNG and JPEG (default 13000², what issue 13 measured), then in a fresh process per
file runs ``open_image(path, max_side=M)`` and the Stylizer's preparation (float planes, Lanczos to
M) and prints the peak RSS (ru_maxrss) and the time. Run: ``.venv/bin/python benchmarks/bench_open_large.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

_CHILD = """
import resource, sys, time
from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer
from animegan.io.images import open_image
t = time.perf_counter()
img = open_image(sys.argv[1], max_side=int(sys.argv[2]))
planes = Stylizer._prepare(img, StylizeOptions(max_side=int(sys.argv[2])))
print(f"decoded {img.size[0]}x{img.size[1]} -> planes {planes.size[0]}x{planes.size[1]}, peak "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB, {time.perf_counter() - t:.1f} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=13000)
    parser.add_argument("--max-side", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        n = args.side
        ramp = np.linspace(0, 255, n, dtype=np.float32).astype(np.uint8)
        rgb = np.empty((n, n, 3), np.uint8)
        rgb[..., 0], rgb[..., 1], rgb[..., 2] = ramp[None, :], ramp[:, None], 128
        img = Image.fromarray(rgb)
        del rgb
        paths = [Path(tmp) / "big.png", Path(tmp) / "big.jpg"]
        img.save(paths[0], compress_level=1)
        img.save(paths[1], quality=85)
        del img
        for path in paths:
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(args.max_side)], capture_output=True,
                                 text=True, check=True)
            print(f"{path.suffix[1:].upper()} {n}² --max-side {args.max_side}: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
