"""Pack training crops and the wheels a lent GPU lacks into ignored folders that the device tool carries.

    python tools/pack_device_data.py --data ../shared/data/train

Why: a device command sees the repository and the paths named in `carry`, 64 MiB in all, and not
../shared. The shipped weights take 44 MB of that (the fidelity model stored packed, weights format 2:
24.6 MB; highrate-v2, 11.9 MB; highrate-v1, 7.5 MB, borrowing what it shares with v2), and the tracked tree
52.6 MiB, so the training photos travel as random 288² views
(WebP quality 80, about 13 KB each) filling what is left: one view of each image in a shuffled order (so
that a smaller budget still draws from every source folder), then, while room is left, another round of
fresh views of the same images (up to --max-views each). The budget is the carry limit minus what every call
carries anyway (tracked files and untracked ones git does not ignore), the wheels and a margin: run it again
after the tree grows. The device has Python 3.12 with
its own torch and numpy 2 but no compressai or pytorch-msssim: their cp312 wheels go to `.whl/`.
`tools/device_train.sh` documents the run that uses both. Nothing here is committed
(`.devdata/` and `.whl/` are in .gitignore).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from roicodec.atomic import atomic_write_bytes
from roicodec.train.data import list_images

ROOT = Path(__file__).resolve().parent.parent
CARRY_LIMIT = 64 * 2**20
#: The device's Python, and the packages it lacks (compressai's other needs are there already).
DEVICE_WHEELS = ["compressai==1.2.8", "pytorch-msssim==1.0.0"]
DEVICE_PIP = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:", "--no-deps",
              "--platform", "manylinux_2_34_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "any"]


def travelling_bytes() -> int:
    """Bytes every device call sends anyway: tracked files and untracked files git does not ignore."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def fetch_wheels(dest: Path) -> None:
    dest.mkdir(exist_ok=True)
    for spec in DEVICE_WHEELS:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", *DEVICE_PIP, "-d", str(dest), spec], check=True)


def random_view(im: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """A square region of 60-100 % of the short side, resized to side x side."""
    h, w = im.shape[:2]
    size = int(rng.uniform(0.6, 1.0) * min(h, w))
    size = max(size, min(side, h, w))
    y0, x0 = rng.integers(h - size + 1), rng.integers(w - size + 1)
    patch = im[y0 : y0 + size, x0 : x0 + size]
    return cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA) if size != side else patch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="training images (e.g. ../shared/data/train)")
    p.add_argument("--out", default=str(ROOT / ".devdata" / "train"))
    p.add_argument("--side", type=int, default=288, help="side of each stored view (>= the training crop)")
    p.add_argument("--quality", type=int, default=80)
    p.add_argument("--margin-mib", type=float, default=1.0, help="room left under the 64 MiB carry limit")
    p.add_argument("--no-wheels", action="store_true", help="do not download the device's wheels to .whl/")
    p.add_argument("--max-views", type=int, default=4, help="views of one image at most")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    if not a.no_wheels:
        fetch_wheels(ROOT / ".whl")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.webp"):
        old.unlink()
    budget = CARRY_LIMIT - travelling_bytes() - folder_bytes(ROOT / ".whl") - int(a.margin_mib * 2**20)
    if budget <= 0:
        sys.exit(f"no room to carry training data: the working tree already takes {travelling_bytes() / 2**20:.1f} MiB")
    rng = np.random.default_rng(a.seed)
    files = list_images(a.data)
    order = rng.permutation(len(files))
    used = kept = 0
    images = set()
    full = False
    bar = tqdm(desc="packing views", unit="view")
    for _round in range(a.max_views):
        for i in order:
            im = np.asarray(Image.open(files[i]).convert("RGB"))
            if min(im.shape[:2]) < a.side // 2:
                continue
            buf = io.BytesIO()
            Image.fromarray(random_view(im, a.side, rng)).save(buf, "WEBP", quality=a.quality, method=6)
            data = buf.getvalue()
            if used + len(data) > budget:
                full = True
                break
            atomic_write_bytes(out / f"{kept:05d}.webp", data)
            used += len(data)
            kept += 1
            images.add(int(i))
            bar.update(1)
        if full:
            break
    bar.close()
    print(f"{kept} {a.side}² views of {len(images)} of {len(files)} images, {used / 2**20:.1f} MiB of a "
          f"{budget / 2**20:.1f} MiB budget in {out}; wheels in {ROOT / '.whl'}: {folder_bytes(ROOT / '.whl') / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
