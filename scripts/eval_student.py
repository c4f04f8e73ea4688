"""How close a distilled student is to its teacher, on held-out photos, plus a contact sheet.

For each photo (long side ``--max-side``, sides multiples of 4): the mean absolute difference of
the student's output from the teacher's (0-255), and each one's mean absolute U and V deviation
from the photo (YUV, 0-255: how much colour cast it adds). Both run in exact fp32. Writes a JSON
file and a contact sheet (photo | teacher | student rows) and prints the means.

    python scripts/eval_student.py --teacher src/animegan/weights/shinkai.safetensors \\
        --student runs/distill-animeganv2-shinkai/student.safetensors --max-side 384 \\
        --out benchmarks/results/eval_animeganv2_shinkai.json --sheet docs/distill-animeganv2-shinkai.jpg
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from eval_styles import DATA, load_photo, yuv255
from PIL import Image

from animegan.inference.stylizer import Stylizer
from animegan.io.atomic import atomic_write_bytes

EVAL = DATA / "eval" / "animegan_test"


def uv_deviation(out: np.ndarray, photo: np.ndarray) -> tuple[float, float]:
    """Mean |U| and |V| difference of ``out`` from ``photo`` (uint8 RGB), on a 0-255 scale."""
    yo, yp = yuv255(out), yuv255(photo)
    return float((yo[1] - yp[1]).abs().mean()), float((yo[2] - yp[2]).abs().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--student", required=True)
    ap.add_argument("--photos", default=str(EVAL))
    ap.add_argument("--limit", type=int, default=40, help="first N photos (sorted by name); 0: all")
    ap.add_argument("--max-side", type=int, default=384)
    ap.add_argument("--sheet-rows", type=int, default=6)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sheet", default="")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    teacher = Stylizer(args.teacher, precision="fp32")
    student = Stylizer(args.student, precision="fp32")
    files = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    files = files[: args.limit] if args.limit else files
    rows, sheet = [], []
    started = time.time()
    for path in files:
        photo = load_photo(path, args.max_side)
        im = Image.fromarray(photo)
        t, st = (np.asarray(m.stylize(im)) for m in (teacher, student))
        (tu, tv), (su, sv) = uv_deviation(t, photo), uv_deviation(st, photo)
        rows.append({"photo": path.name, "student_to_teacher": float(np.abs(st.astype(np.float32) - t).mean()),
                     "u_student": su, "v_student": sv, "u_teacher": tu, "v_teacher": tv})
        if len(sheet) < args.sheet_rows:
            sheet.append(np.concatenate([photo, t, st], axis=1))
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "photo"}
    doc = {"teacher": args.teacher, "student": args.student, "photos": len(rows), "max_side": args.max_side,
           "seconds": round(time.time() - started, 1), "means": means, "rows": rows}
    atomic_write_bytes(args.out, (json.dumps(doc, indent=2) + "\n").encode())
    print(json.dumps({"photos": len(rows), **{k: round(v, 2) for k, v in means.items()}}))
    if args.sheet:
        width = max(r.shape[1] for r in sheet)
        padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in sheet]
        buf = io.BytesIO()
        Image.fromarray(np.concatenate(padded)).save(buf, format="JPEG", quality=88)
        atomic_write_bytes(args.sheet, buf.getvalue())


if __name__ == "__main__":
    main()
