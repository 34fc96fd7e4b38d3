"""Automatic and structured ROI sources (no ../shared needed, except the YuNet test which skips)."""

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import roicodec
from roicodec.cli import main
from roicodec.errors import ImageInputError
from roicodec.roi import RoiSpec, build_importance
from roicodec.roi.cache import RemoteFile, SourceUnavailable, fetch
from roicodec.roi.classes import class_importance, parse_class_weights, read_legend
from roicodec.roi.mask import boxes_importance, parse_box
from roicodec.roi.saliency import saliency_importance
from roicodec.roi.text import text_importance

from .conftest import synthetic_image

SHARED = Path(__file__).resolve().parents[2] / "shared"


def document(width=480, height=360) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((height, width, 3), 245, np.uint8)
    truth = np.zeros((height, width), bool)
    for i, line in enumerate(["TOTAL 12.50 EUR", "Receipt no 4711", "Thank you for shopping", "VAT 19% 2.00"]):
        y = 60 + 60 * i
        cv2.putText(img, line, (30, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2, cv2.LINE_AA)
        (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.9, 2)
        truth[y - th : y + 4, 30 : 30 + tw] = True
    return img, truth


def test_boxes():
    assert parse_box("10,20,30,40") == (10, 20, 30, 40, 1.0)
    assert parse_box("10,20,30,40:0.5")[-1] == 0.5
    for bad in ("1,2,3", "a,b,c,d", "0,0,-5,5", "0,0,5,5:3"):
        with pytest.raises(ImageInputError):
            parse_box(bad)
    m = boxes_importance([(90, 90, 50, 50, 0.5), (0, 0, 10, 10, 1.0)], (100, 100))
    assert m[95, 95] == 0.5 and m[5, 5] == 1.0 and m[50, 50] == 0 and m.shape == (100, 100)


def test_class_weights_ids_names_and_legend(tmp_path):
    assert parse_class_weights("1=1.0,2=0.5,0=0.1") == ({1: 1.0, 2: 0.5, 0: 0.1}, 0.0)
    legend = tmp_path / "legend.txt"
    legend.write_text("1 person\n3 car\n")
    lg = read_legend(legend)
    assert lg == {"person": 1, "car": 3}
    assert parse_class_weights("person=1,car=0.6,other=0.1", lg) == ({1: 1.0, 3: 0.6}, 0.1)
    with pytest.raises(ImageInputError, match="legend"):
        parse_class_weights("person=1")
    labels = np.array([[0, 1], [3, 7]])
    m = class_importance(labels, {1: 1.0, 3: 0.6}, 0.1, (2, 2))
    assert m.tolist() == [[pytest.approx(0.1), 1.0], [pytest.approx(0.6), pytest.approx(0.1)]]


def test_class_maps_with_alpha_and_wrong_aspect(tmp_path):
    labels = np.zeros((20, 30), np.uint8)
    labels[5:10, 5:15] = 3
    la = tmp_path / "la.png"
    Image.fromarray(np.stack([labels, np.full_like(labels, 255)], axis=2), "LA").save(la)
    m = class_importance(la, {3: 1.0}, 0.0, (30, 20))
    assert m[7, 7] == 1.0 and m[15, 25] == 0.0
    with pytest.raises(ImageInputError, match="aspect"):
        class_importance(la, {3: 1.0}, 0.0, (20, 30))


def test_roi_spec_leaves_the_callers_spec_alone():
    spec = RoiSpec(boxes=["0,0,4,4"])
    for _ in range(2):
        assert len(roicodec.roi.roi_spec(spec, boxes=["4,4,4,4"]).boxes) == 2
    assert spec.boxes == ["0,0,4,4"]
    assert roicodec.roi.roi_spec("auto: faces, text").auto == ["faces", "text"]
    assert roicodec.roi.roi_spec(None, boxes="1,2,3,4").boxes == ["1,2,3,4"]


def test_float_mask_with_nan_counts_as_unimportant(tmp_path):
    from roicodec.roi import load_mask

    a = np.full((16, 16), 0.5, np.float32)
    a[0, 0], a[0, 1] = np.nan, np.inf
    path = tmp_path / "m.tif"
    Image.fromarray(a, "F").save(path)
    m = load_mask(path, (16, 16))
    assert np.isfinite(m).all() and m[0, 0] == 0.0 and m[0, 1] == 1.0 and m[5, 5] == 0.5


def test_detectors_take_very_thin_images():
    thin = np.full((1, 2000, 3), 128, np.uint8)
    m = build_importance(thin, RoiSpec(auto=["people", "text"]))[0]
    assert m.shape == (1, 2000)


def test_text_detector_finds_printed_lines_and_not_gradients():
    img, truth = document()
    found = text_importance(img) > 0.5
    assert (found & truth).sum() / truth.sum() > 0.6
    smooth = np.repeat(np.linspace(0, 255, 480, dtype=np.uint8)[None, :, None], 360, 0).repeat(3, 2)
    assert text_importance(smooth).mean() == 0


def test_saliency_peaks_on_the_odd_object():
    img = np.full((240, 320, 3), 120, np.uint8)
    cv2.circle(img, (250, 60), 18, (250, 30, 30), -1)
    sal = saliency_importance(img)
    assert sal.shape == (240, 320)
    assert sal[60, 250] > 0.8 and sal[200, 40] < 0.2


def test_saliency_marks_the_object_not_the_textured_background():
    """Texture that touches the border is background, however much contrast it has."""
    rng = np.random.default_rng(1)
    img = np.clip(110 + rng.normal(0, 35, (240, 320, 1)) + np.linspace(0, 60, 320)[None, :, None], 0, 255)
    img = np.repeat(img, 3, 2).astype(np.uint8)
    cv2.ellipse(img, (160, 120), (45, 60), 0, 0, 360, (40, 170, 230), -1)
    inside = np.zeros((240, 320), np.uint8)
    cv2.ellipse(inside, (160, 120), (40, 55), 0, 0, 360, 1, -1)
    sal = saliency_importance(img)
    assert sal[inside > 0].mean() > 0.7
    assert np.concatenate([sal[:20].ravel(), sal[-20:].ravel(), sal[:, :20].ravel()]).mean() < 0.15
    assert np.array_equal(sal, saliency_importance(img))  # deterministic


def test_saliency_of_flat_and_tiny_pictures_is_empty():
    assert saliency_importance(np.full((120, 90, 3), 77, np.uint8)).max() == 0
    assert saliency_importance(np.zeros((5, 9, 3), np.uint8)).shape == (5, 9)


def test_auto_combines_by_maximum_and_reports():
    img, truth = document()
    imp, report = build_importance(img, RoiSpec(auto=["text", "saliency"], boxes=["0,0,20,20:0.3"]))
    assert set(report) == {"boxes", "text", "saliency"}
    assert imp.max() <= 1 and imp[5, 5] >= 0.3
    assert imp[truth].mean() > imp[~truth].mean()


def test_faces_use_the_packaged_yunet_offline_with_an_empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")
    from roicodec.roi import faces

    assert faces.yunet_path() == faces.PACKAGED_YUNET
    assert (faces.PACKAGED_YUNET.parent / "LICENSE").read_text().count("Apache License") >= 1
    _, report = build_importance(np.asarray(synthetic_image(160, 120)), RoiSpec(auto=True))
    assert report["faces"]["detector"] == "yunet"
    assert list(tmp_path.iterdir()) == []  # nothing fetched or written to the cache


def test_face_fallback_runs_without_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")
    from roicodec.roi import faces

    monkeypatch.setattr(faces, "PACKAGED_YUNET", tmp_path / "missing.onnx")
    found, detector = faces.detect_faces(np.asarray(synthetic_image(160, 120)))
    assert detector == "haar" and found == []


@pytest.mark.skipif(not (SHARED / "weights/yunet").exists() or not (SHARED / "data/roi/pedestrians").exists(),
                    reason="needs ../shared weights and data")
def test_yunet_from_the_cache_finds_faces(monkeypatch, tmp_path):
    shutil.copy(SHARED / "weights/yunet/face_detection_yunet_2023mar.onnx", tmp_path)
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")
    from roicodec.roi import faces
    from roicodec.roi.faces import detect_faces

    monkeypatch.setattr(faces, "PACKAGED_YUNET", tmp_path / "missing.onnx")  # the cache path, not the package
    hits = 0
    for p in sorted((SHARED / "data/roi/pedestrians/images").glob("*"))[:5]:
        faces, detector = detect_faces(np.asarray(Image.open(p).convert("RGB")))
        assert detector == "yunet"
        hits += len(faces)
    assert hits >= 3


def test_cache_verifies_hash_and_never_downloads_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")
    payload = b"weights"
    good = RemoteFile("w.bin", "https://example.invalid/w.bin", hashlib.sha256(payload).hexdigest())
    with pytest.raises(SourceUnavailable, match="downloads are off"):
        fetch(good)
    (tmp_path / "w.bin").write_bytes(payload)
    assert fetch(good) == tmp_path / "w.bin"
    (tmp_path / "w.bin").write_bytes(b"tampered")
    with pytest.raises(SourceUnavailable, match="SHA-256"):
        fetch(good)


def test_api_auto_and_boxes_round_trip(model, monkeypatch, tmp_path):
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")
    img, _ = document(256, 192)
    res = roicodec.compress_detailed(Image.fromarray(img), bpp=0.5, roi="auto", model=model)
    assert "text" in res.roi_sources and len(res.data) <= 0.5 * 256 * 192 / 8
    assert roicodec.inspect(res.data, model=model)["has_roi"]
    data = roicodec.compress(Image.fromarray(img), quality=3, roi=None, boxes=["10,10,50,50"], model=model)
    assert roicodec.inspect(data, model=model)["level_max"] > 3


def test_cli_roi_render_and_compress_with_boxes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")
    src = tmp_path / "doc.png"
    Image.fromarray(document(256, 192)[0]).save(src)
    heat = tmp_path / "heat.png"
    assert main(["roi", str(src), "-o", str(heat), "--roi", "auto:text", "--roi-box", "0,0,64,64:0.5"]) == 0
    assert Image.open(heat).size[0] > 256
    assert "text" in capsys.readouterr().out
    out = tmp_path / "doc.rcz"
    assert main(["compress", str(src), "-o", str(out), "--size", "2000", "--roi-box", "0,0,64,64"]) == 0
    assert out.stat().st_size <= 2000
    assert main(["roi", str(src), "-o", str(heat)]) == 1


def test_people_source_marks_the_core_of_each_confident_detection(monkeypatch):
    """HOG boxes become the box's core at a strength that grows with the score; weak ones are dropped."""
    from roicodec.roi import people

    monkeypatch.setattr(people, "_mediapipe_mask", lambda rgb: None)  # the HOG path, installed or not
    monkeypatch.setattr(people, "detect_people_hog", lambda rgb: [(60, 12, 60, 120, 0.8), (0, 0, 30, 30, 0.1)])
    img = np.asarray(synthetic_image(200, 160))
    mask, detector = people.person_importance(img)
    assert detector == "hog" and mask.shape == (160, 200)
    assert np.all(mask[22:122, 70:110] == pytest.approx(0.9))  # x 60+10 .. 120-10, y 12+10 .. 132-10
    assert mask[:, :70].max() == 0 and mask[:, 110:].max() == 0 and mask[:22].max() == 0 and mask[122:].max() == 0


def test_people_detector_finds_nobody_in_a_test_card():
    from roicodec.roi.people import detect_people_hog

    assert detect_people_hog(np.asarray(synthetic_image(200, 160))) == []
