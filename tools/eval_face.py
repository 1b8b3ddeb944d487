"""Measure LiveCam's face analysis and touch-up (issue #3) on real photos and clips; prints a table.

    python tools/eval_face.py [--data ../shared/data] [--json] [--only goldens speed ...]
                              [--tflite-python /work/mvenv/bin/python --tflite-dir DIR]

Parts:
  models     ONNX vs the original .tflite (LiteRT, run by --tflite-python from --tflite-dir) on the
             crops the stage really feeds: max |difference| of every output
  goldens    the whole stage (detector, crop, mesh) vs MediaPipe's own face-mesh goldens
             (tests/fixtures/face_golden): mean and worst-point error, % of face size
  dlib68     68-point normalised mean error (by outer-eye-corner distance) against
             faces/dlib_landmarks (points made by dlib's model, not by hand): the whole stage with
             the full-range detector, and the mesh alone seeded from each annotated box
  detection  faces found / faces present on faces/single and faces/multi, both detectors
  jitter     landmark noise on still-head stretches of the clips, without and with the One Euro filter
  touchup    strength 100: skin texture ratio (after/before), SSIM of eyes and mouth, and
             frame-to-frame change in the skin (output vs input) on still stretches
  speed      720p, one thread: tracker (detection + tracking + mesh) per frame and touch-up per frame

Speed is reported as wall-clock median and as this thread's CPU time median; on a busy machine the
CPU time is the steadier of the two.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livecam.analysis import face_regions as regions  # noqa: E402
from livecam.analysis.face_detector import FaceDetector  # noqa: E402
from livecam.analysis.face_landmarker import FaceLandmarker, Roi, crop, eye_roi, roi_from_landmarks  # noqa: E402
from livecam.analysis.face_tracker import FaceTracker  # noqa: E402
from livecam.analysis.head_pose import POSE_INDICES  # noqa: E402
from livecam.capture import iter_video_frames  # noqa: E402
from livecam.effects.touch_up import TouchUp, skin_mask  # noqa: E402
from livecam.settings import FaceSettings, RuntimeSettings, TouchUpSettings  # noqa: E402
from livecam.types import Analysis  # noqa: E402

GOLDEN = REPO / "tests" / "fixtures" / "face_golden"
RUNTIME = RuntimeSettings(provider="cpu", threads=1)
# Faces present, counted by eye (every face with both eyes or a clear profile visible).
MULTI_PRESENT = {"dl_bald_guys.jpg": 24, "fr_obama_and_biden.jpg": 3, "fr_two_people.jpg": 2, "if_t1_group.jpg": 6}
SPEED_CLIPS = ("lp_d12_talking_indoor.mp4", "lp_s18_room_landscape.mp4")
STILL_WINDOW = 15  # frames
STILL_MOTION = 0.01  # the head centre moves less than 1 % of the face size over the window
PARTS = ("models", "goldens", "dlib68", "detection", "jitter", "touchup", "speed")


def data_root(arg: str | None) -> Path:
    return Path(arg or os.environ.get("LIVECAM_DATA") or REPO.parent / "shared" / "data")


def face_size(landmarks: np.ndarray) -> float:
    return float(np.ptp(landmarks[:, :2], axis=0).max())


def tracker(**face) -> FaceTracker:
    return FaceTracker(FaceSettings(**{"smoothing": False, **face}), RUNTIME)


def photo_faces(photos: list[Path]):
    """(path, image, faces) of each photo in which a tracker finds a face, each photo read on its own."""
    t = tracker()
    for p in photos:
        image = cv2.imread(str(p))
        t.reset()
        faces = [] if image is None else t.process(image)
        if faces:
            yield p, image, faces


def read_clip(path: Path, limit: int = 400) -> list[np.ndarray]:
    return list(itertools.islice(iter_video_frames(path), limit))


def to_720p(frame: np.ndarray) -> np.ndarray:
    """A webcam-shaped 1280x720 frame: scale to 720 rows, centre on a dark canvas if narrower."""
    h, w = frame.shape[:2]
    if (w, h) == (1280, 720):
        return frame
    s = 720 / h
    scaled = cv2.resize(frame, (min(1280, round(w * s)), 720), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((720, 1280, 3), 40, np.uint8)
    x = (1280 - scaled.shape[1]) // 2
    canvas[:, x:x + scaled.shape[1]] = scaled
    return canvas


# ---------------------------------------------------------------- models


_TFLITE_RUNNER = r"""
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
folder, model, inputs, out = sys.argv[1:5]
it = Interpreter(model_path=model, num_threads=1)
it.allocate_tensors()
x = np.load(inputs)
res = {}
for i in range(len(x)):
    it.set_tensor(it.get_input_details()[0]["index"], x[i:i + 1])
    it.invoke()
    for j, d in enumerate(it.get_output_details()):
        res.setdefault(str(j), []).append(it.get_tensor(d["index"]).copy())
np.savez(out, **{k: np.concatenate(v) for k, v in res.items()})
"""
TFLITE_FILES = {
    "face_detection_short_range": "face_detection/face_detection_short_range.tflite",
    "face_detection_full_range": "face_detection/face_detection_full_range_sparse.tflite",
    "face_landmark": "face_landmark/face_landmark.tflite",
    "iris_landmark": "iris_landmark/iris_landmark.tflite",
}


def part_models(root: Path, args) -> dict:
    if not (args.tflite_python and args.tflite_dir):
        return {"skipped": "pass --tflite-python (a Python with ai-edge-litert) and --tflite-dir (mediapipe/modules)"}
    photos = [REPO / "tests" / "fixtures" / n for n in ("sk_astronaut.png", "mpl_grace_hopper.jpg")]
    photos += sorted((root / "faces" / "single").glob("*"))[:8]
    inputs: dict[str, list[np.ndarray]] = {k: [] for k in TFLITE_FILES}
    sessions = {}
    lm = FaceLandmarker("cpu", 1)
    for model in ("short", "full"):
        det = FaceDetector(model, "cpu", 1)
        sessions[det.session.name] = det.session
        for p in photos:
            image = cv2.imread(str(p))
            if image is not None:
                inputs[det.session.name].append(det.session.normalize(det.letterbox(image)[0])[0])
    sessions["face_landmark"] = lm.session
    sessions["iris_landmark"] = lm.iris_session
    for _, image, faces in photo_faces(photos):
        roi = roi_from_landmarks(faces[0].landmarks)
        inputs["face_landmark"].append(lm.session.normalize(crop(image, roi, 192)[0])[0])
        eye = eye_roi(faces[0].landmarks, regions.RIGHT_EYE_OUTER, regions.RIGHT_EYE_INNER)
        inputs["iris_landmark"].append(lm.iris_session.normalize(crop(image, eye, 64)[0])[0])
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, xs in inputs.items():
            x = np.stack(xs).astype(np.float32)
            np.save(f"{tmp}/{name}.npy", x)
            subprocess.run([args.tflite_python, "-c", _TFLITE_RUNNER, tmp, str(Path(args.tflite_dir) / TFLITE_FILES[name]),
                            f"{tmp}/{name}.npy", f"{tmp}/{name}_out.npz"], check=True)
            ref = np.load(f"{tmp}/{name}_out.npz")
            ours = [sessions[name].run(x[i:i + 1]) for i in range(len(x))]
            worst = {}
            for j, out in enumerate(sessions[name].spec["outputs"]):
                mine = np.concatenate([o[j] for o in ours]).reshape(ref[str(j)].shape)
                worst[out["name"]] = float(np.abs(mine - ref[str(j)]).max())
            result[name] = {"inputs": len(x), "max_abs_diff": worst}
    return result


# ---------------------------------------------------------------- goldens


def mesh_error(ours: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    d = np.linalg.norm(ours[:, :2] - gold[:, :2], axis=1) / face_size(gold)
    return float(d.mean()), float(d.max())


def part_goldens(root: Path, args) -> dict:
    rows = {}
    for stem, file in (("sk_astronaut", "sk_astronaut.png"), ("mpl_grace_hopper", "mpl_grace_hopper.jpg")):
        rows[f"fixtures/{file}"] = (cv2.imread(str(REPO / "tests" / "fixtures" / file)),
                                    np.load(GOLDEN / f"{stem}.npz")["landmarks"])
    shared = np.load(GOLDEN / "shared_photos.npz")
    for key in shared.files:
        if not key.startswith("__"):
            rows[key] = (cv2.imread(str(root / "faces" / key)), shared[key])
    t = tracker(max_faces=8)
    out = {}
    for key, (image, golds) in rows.items():
        t.reset()
        faces = t.process(image)
        errs = [min((mesh_error(f.landmarks, g) for f in faces), default=(np.nan, np.nan)) for g in golds]
        out[key] = {"golden_faces": len(golds), "our_faces": len(faces),
                    "mean_err_pct": [round(100 * e[0], 3) for e in errs], "worst_point_pct": [round(100 * e[1], 3) for e in errs]}
    allm = [e for r in out.values() for e in r["mean_err_pct"]]
    out["summary"] = {"faces": len(allm), "mean_err_pct_max": max(allm), "mean_err_pct_mean": float(np.mean(allm)),
                      "worst_point_pct_max": max(e for r in out.values() if "worst_point_pct" in r for e in r["worst_point_pct"]),
                      "face_count_agrees": all(r["golden_faces"] == r["our_faces"] for k, r in out.items() if k != "summary")}
    return out


# ---------------------------------------------------------------- dlib 68


def read_dlib(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    faces = []
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            for box in image.iter("box"):
                parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
                if len(parts) != 68:
                    continue
                pts = np.array([(float(p.get("x")), float(p.get("y"))) for p in parts])
                b = [float(box.get(k)) for k in ("left", "top", "width", "height")]
                faces.append((image.get("file"), np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]]), pts))
    return faces


def nme(pred68: np.ndarray, truth: np.ndarray) -> float:
    iod = np.linalg.norm(truth[36] - truth[45])
    return float(np.linalg.norm(pred68[:, :2] - truth, axis=1).mean() / iod)


def part_dlib68(root: Path, args) -> dict:
    folder = root / "faces" / "dlib_landmarks"
    faces = read_dlib(folder)
    lm = FaceLandmarker("cpu", 1)
    stage = FaceTracker(FaceSettings(detector="full", max_faces=8, smoothing=False), RUNTIME)
    staged, seeded, missed = [], [], 0
    found: dict[str, list] = {}
    for file, box, truth in faces:
        image = cv2.imread(str(folder / file))
        if file not in found:
            stage.reset()
            found[file] = [regions.to_68(f.landmarks) for f in stage.process(image)]
        centre, side = truth.mean(0), box[2] - box[0]
        near = [p for p in found[file] if np.linalg.norm(p[:, :2].mean(0) - centre) < 0.5 * side]
        if near:
            staged.append(min(nme(p, truth) for p in near))
        else:
            missed += 1
        # The mesh alone: a MediaPipe-style crop around the annotated box, refined once from its own points.
        roi = Roi(float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2, 1.5 * float(side), 0.0)
        points, _ = lm.run(image, roi)
        points, _ = lm.run(image, roi_from_landmarks(points))
        seeded.append(nme(regions.to_68(points), truth))
    return {"faces": len(faces), "stage_found": len(staged), "stage_missed": missed,
            "stage_nme_pct": round(100 * float(np.mean(staged)), 2) if staged else None,
            "stage_nme_median_pct": round(100 * float(np.median(staged)), 2) if staged else None,
            "seeded_nme_pct": round(100 * float(np.mean(seeded)), 2),
            "seeded_nme_median_pct": round(100 * float(np.median(seeded)), 2),
            "normalised_by": "outer eye corners (points 36-45)"}


# ---------------------------------------------------------------- detection


def part_detection(root: Path, args) -> dict:
    out = {}
    for model in ("short", "full"):
        det = FaceDetector(model, "cpu", 1)
        stage = FaceTracker(FaceSettings(detector=model, max_faces=8, smoothing=False), RUNTIME)
        res = {}
        for folder in ("single", "multi"):
            present = found = extra = confirmed = 0
            per = {}
            for path in sorted((root / "faces" / folder).iterdir()):
                image = cv2.imread(str(path))
                if image is None:
                    continue
                n_true = MULTI_PRESENT.get(path.name, 1) if folder == "multi" else 1
                n = len(det.detect(image, max_faces=64))
                stage.reset()
                c = len(stage.process(image))
                present += n_true
                found += min(n, n_true)
                extra += max(0, n - n_true)
                confirmed += min(c, n_true)
                per[path.name] = f"{n}/{n_true}"
            res[folder] = {"found": found, "present": present, "surplus": extra,
                           "with_mesh_max8": confirmed, "per_photo": per}
        out[model] = res
    return out


# ---------------------------------------------------------------- jitter


def still_windows(raw: list) -> list[tuple[int, float]]:
    windows = []
    for s in range(0, len(raw) - STILL_WINDOW, STILL_WINDOW):
        w = raw[s:s + STILL_WINDOW]
        if any(x is None for x in w):
            continue
        centre = np.stack([x[POSE_INDICES, :2].mean(0) for x in w])
        size = face_size(w[0])
        if np.ptp(centre, axis=0).max() < STILL_MOTION * size:
            windows.append((s, size))
    return windows


def roughness(track: list, windows) -> tuple[float, float]:
    """Frame-to-frame landmark noise on still windows: RMS second difference / sqrt(6) (the noise
    std of white jitter, blind to slow motion), as % of face size and in pixels; plus the plain
    positional std within each window (% of face size)."""
    noise, px, spread = [], [], []
    for s, size in windows:
        pts = np.stack([x[:, :2] for x in track[s:s + STILL_WINDOW]])
        d2 = pts[2:] - 2 * pts[1:-1] + pts[:-2]
        r = float(np.sqrt((d2 ** 2).mean() / 6))
        noise.append(r / size)
        px.append(r)
        spread.append(float(pts.std(axis=0).mean()) / size)
    return float(np.mean(noise)), float(np.mean(px)), float(np.mean(spread))


def part_jitter(root: Path, args) -> dict:
    out = {}
    for clip in sorted((root / "video").glob("*.mp4")):
        frames = read_clip(clip, 300)
        tracks = {}
        for smoothing in (False, True):
            t = FaceTracker(FaceSettings(smoothing=smoothing), RUNTIME)
            tracks[smoothing] = [(f[0].landmarks if (f := t.process(x)) else None) for x in frames]
        windows = still_windows(tracks[False])
        if not windows:
            out[clip.name] = {"still_windows": 0}
            continue
        raw, filt = roughness(tracks[False], windows), roughness(tracks[True], windows)
        out[clip.name] = {"still_windows": len(windows), "noise_pct_raw": round(100 * raw[0], 4),
                          "noise_pct_filtered": round(100 * filt[0], 4), "noise_px_raw": round(raw[1], 3),
                          "noise_px_filtered": round(filt[1], 3), "std_pct_raw": round(100 * raw[2], 3),
                          "std_pct_filtered": round(100 * filt[2], 3)}
    rows = [r for r in out.values() if r.get("still_windows")]
    out["summary"] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in
                      ("noise_pct_raw", "noise_pct_filtered", "noise_px_raw", "noise_px_filtered", "std_pct_raw", "std_pct_filtered")}
    return out


# ---------------------------------------------------------------- touch-up


def skin_texture(image: np.ndarray, landmarks: np.ndarray) -> float:
    """High-frequency energy (grey minus a Gaussian of 1 % of the face size) in the skin core."""
    size = float(np.ptp(landmarks[list(regions.FACE_OVAL), :2], axis=0).max())
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), max(1.0, 0.01 * size))
    core = skin_mask(landmarks[:, :2], image.shape[:2], size) > 200
    return float((detail[core] ** 2).mean())


def region_ssim(a: np.ndarray, b: np.ndarray, landmarks: np.ndarray, indices) -> float:
    """Mean SSIM (Gaussian window, sigma 1.5, grey) over the region the ``indices`` landmarks outline."""
    x, y = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY).astype(np.float64) for i in (a, b))
    g = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
    mx, my = g(x), g(y)
    vx, vy, cov = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    region = np.zeros(a.shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round(landmarks[list(indices), :2]).astype(np.int32)], 1)
    return float(ssim[region > 0].mean())


def part_touchup(root: Path, args) -> dict:
    photos = [REPO / "tests" / "fixtures" / n for n in ("sk_astronaut.png", "mpl_grace_hopper.jpg")]
    photos += sorted((root / "faces" / "single").glob("*"))
    per = {}
    for p, image, faces in photo_faces(photos):
        effect = TouchUp(TouchUpSettings(strength=100))
        for _ in range(10):
            out = effect.apply(image, Analysis(faces=faces))[0]
        lm = faces[0].landmarks
        per[p.name] = {"texture_ratio": round(skin_texture(out, lm) / skin_texture(image, lm), 3),
                       **{f"ssim_{k}": round(region_ssim(image, out, lm, regions.FEATURES[k]), 4)
                          for k in ("right_eye", "left_eye", "lips")}}
    # Flicker: on still stretches of real clips, does the effect add frame-to-frame change in the skin?
    flicker = {}
    for clip in ("lp_d19_frontal_glasses.mp4", "lp_d9_webcam_room.mp4", "lp_s18_room_landscape.mp4"):
        frames = read_clip(root / "video" / clip, 300)
        tr = FaceTracker(FaceSettings(), RUNTIME)
        effect = TouchUp(TouchUpSettings(strength=100))
        faces = [tr.process(f) for f in frames]
        outs = [effect.apply(f, Analysis(faces=fs))[0] for f, fs in zip(frames, faces)]
        windows = still_windows([fs[0].landmarks if fs else None for fs in faces])
        d_in, d_out = [], []
        for s, size in windows:
            for i in range(s + 1, s + STILL_WINDOW):
                lm = faces[i][0].landmarks
                core = skin_mask(lm[:, :2], frames[i].shape[:2], size) > 128
                d_in.append(np.abs(frames[i].astype(np.int16) - frames[i - 1])[core].mean())
                d_out.append(np.abs(outs[i].astype(np.int16) - outs[i - 1])[core].mean())
        if d_in:
            flicker[clip] = {"still_windows": len(windows), "skin_change_in": round(float(np.mean(d_in)), 3),
                             "skin_change_out": round(float(np.mean(d_out)), 3)}
    ratios = [r["texture_ratio"] for r in per.values()]
    ssims = [v for r in per.values() for k, v in r.items() if k.startswith("ssim")]
    return {"photos": per, "summary": {"faces": len(per), "texture_ratio_max": max(ratios),
                                       "texture_ratio_median": float(np.median(ratios)), "ssim_min": min(ssims)},
            "flicker": flicker}


# ---------------------------------------------------------------- speed


def timed(fn, *a, **k):
    w0, c0 = time.perf_counter(), time.thread_time()
    r = fn(*a, **k)
    return r, 1e3 * (time.perf_counter() - w0), 1e3 * (time.thread_time() - c0)


def part_speed(root: Path, args) -> dict:
    cv2.setNumThreads(1)
    out = {}
    for clip in SPEED_CLIPS:
        frames = [to_720p(f) for f in read_clip(root / "video" / clip, 300)]
        t = FaceTracker(FaceSettings(), RUNTIME)
        effect = TouchUp(TouchUpSettings(strength=60))
        for f in frames[:5]:  # warm-up: first inference allocates
            effect.apply(f, Analysis(faces=t.process(f)))[0]
        t.reset()
        t.detector_runs = 0
        track_wall, track_cpu, tu_wall, tu_cpu, sizes = [], [], [], [], []
        for f in frames:
            f = f.copy()  # a frame the capture stage just wrote, as in the pipeline (not 300 frames ago)
            faces, w, c = timed(t.process, f)
            track_wall.append(w)
            track_cpu.append(c)
            _, w, c = timed(effect.apply, f, Analysis(faces=faces))
            tu_wall.append(w)
            tu_cpu.append(c)
            if faces:
                sizes.append(face_size(faces[0].landmarks))
        out[clip] = {"frames": len(frames), "size": "1280x720", "detector_runs": t.detector_runs,
                     "face_px": round(float(np.median(sizes)), 1) if sizes else None,
                     "track_ms_wall_median": round(float(np.median(track_wall)), 3),
                     "track_ms_cpu_median": round(float(np.median(track_cpu)), 3),
                     "touchup_ms_wall_median": round(float(np.median(tu_wall)), 3),
                     "touchup_ms_cpu_median": round(float(np.median(tu_cpu)), 3)}
    # The bare model calls, for how much of the tracker's time is the mesh network itself.
    t = FaceTracker(FaceSettings(), RUNTIME)
    for name, session in (("mesh", t.landmarker.session), ("detector", t.detector.session)):
        x = np.zeros(session.input_shape, np.float32)
        runs = [timed(session.run, x) for _ in range(200)]
        out[f"{name}_inference_ms_cpu_median"] = round(float(np.median([r[2] for r in runs])), 3)
        out[f"{name}_inference_ms_wall_min"] = round(float(np.min([r[1] for r in runs])), 3)
    out["load_average"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return out


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="shared test data folder (default ../shared/data or $LIVECAM_DATA)")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--tflite-python", help="a Python with ai-edge-litert, for the models part")
    parser.add_argument("--tflite-dir", help="MediaPipe's modules folder with the original .tflite files")
    args = parser.parse_args(argv)
    root = data_root(args.data)
    if not (root / "faces").is_dir():
        print(f"Test data not found at {root}; pass --data with the shared data folder.", file=sys.stderr)
        return 2
    results = {}
    for part in args.only or PARTS:
        t0 = time.perf_counter()
        results[part] = globals()[f"part_{part}"](root, args)
        if not args.json:
            print(f"== {part} ({time.perf_counter() - t0:.0f} s)")
            print(json.dumps(results[part], indent=1, default=float))
    if args.json:
        print(json.dumps(results, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
