"""Faces on the pedestrian set: the packaged YuNet against the Haar cascade it replaces offline.

    python benchmarks/face_recall.py --data ../shared/data/roi

The ground truth is a person mask (255 = person), not face boxes, so a face counts where its box
centre lies on a person:
  people found   connected parts of the mask (each at least 0.5 % of the image; people who overlap
                 merge into one) holding at least one face centre, over all such parts: the recall
  images         images with at least one face found
  on a person    detections whose centre lies in the mask: a precision proxy (a face off every
                 person is a false alarm; one on a person may still be a hand or a bag)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from roicodec.evaluate.examples import iter_examples
from roicodec.roi import faces

MIN_PERSON = 0.005


def people(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label image of the mask's connected parts large enough to be a person, and their count."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_PERSON * mask.size]
    return np.where(np.isin(labels, keep), labels, 0), len(keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/roi"))
    ap.add_argument("--limit", type=int, default=1000)
    args = ap.parse_args()
    detectors = {"yunet": lambda rgb: faces._yunet(rgb, faces.PACKAGED_YUNET), "haar": faces._haar}
    totals = {k: dict(people=0, found=0, images=0, with_face=0, detections=0, on_person=0, seconds=0.0) for k in detectors}
    for _, _, image, mask in iter_examples(args.data, ["pedestrians"], args.limit, desc="pedestrians"):
        rgb = np.asarray(image)
        labels, n_people = people(mask)
        for name, detect in detectors.items():
            t = totals[name]
            start = time.perf_counter()
            found = detect(rgb)
            t["seconds"] += time.perf_counter() - start
            centres = [(min(int(x + w / 2), mask.shape[1] - 1), min(int(y + h / 2), mask.shape[0] - 1))
                       for x, y, w, h, _ in found]
            centres = [(max(cx, 0), max(cy, 0)) for cx, cy in centres]
            t["people"] += n_people
            t["found"] += len({labels[cy, cx] for cx, cy in centres} - {0})
            t["images"] += 1
            t["with_face"] += bool(found)
            t["detections"] += len(found)
            t["on_person"] += sum(bool(mask[cy, cx]) for cx, cy in centres)
    print("detector  people found         images with a face  detections  on a person  ms/image")
    for name, t in totals.items():
        print(f"{name:8s}  {t['found']:3d}/{t['people']:3d} = {t['found'] / max(t['people'], 1):5.1%}   "
              f"{t['with_face']:3d}/{t['images']:3d} = {t['with_face'] / max(t['images'], 1):5.1%}   "
              f"{t['detections']:10d}  {t['on_person'] / max(t['detections'], 1):10.1%}  "
              f"{1000 * t['seconds'] / max(t['images'], 1):8.0f}")


if __name__ == "__main__":
    main()
