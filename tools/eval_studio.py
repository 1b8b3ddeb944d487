"""Measure the studio effects (key light, eye contact) on real clips; numbers for issue 21.

    .venv/bin/python tools/eval_studio.py key-light  [--clips ...] [--strength 70]
    .venv/bin/python tools/eval_studio.py eye-contact [--half tuning|reporting|all] [--clips ...]
    .venv/bin/python tools/eval_studio.py speed [--clip ...] [--before OLD_EFFECTS_DIR]

Key light, per clip, on every ``--every``-th frame after a warm-up (the light fades in), with the
room real and unblurred (background off): the face's median luma change (face outline from the
mesh), the change of the room's mean luma (pixels the person mask calls room, kept 12 px away from
the person), the shift of the skin's median colour in CIELAB a*b* (ΔE without lightness; skin = face
outline minus eyes, brows and lips), the share of face pixels with a channel at 254 or more, and the
rim: the luma change in a 2-12 px band outside the person's outline minus the change 12-40 px out
(a halo, a bright ring at the outline, makes it positive).

Eye contact: the face and iris models run again on the output (an estimate independent of the
effect's internal state) and give, per frame, the gaze's angle to the camera from the iris centre's
offset from the eyeball centre. A frame's gaze counts as "measurably below the lens" (the frames the
angle is reported on) only where the picture lets it be measured, all read on the input by the
judge's own fresh model run:
  - in both eyes, at least MEASURABLE_IRIS (60 %) of the iris's diameter shows between the lids as
    the picture shows them (the iris model's lid contour, ``Face.lids``, times the eye's width, over
    the iris model's iris diameter): a slit or a closing eye hides the iris's centre, and the model
    then guesses it low under the lid, so its "gaze" there is not a measurement;
  - and the mesh agrees the eyes are open: its lid gap (both eyes) at least MESH_OPEN (80 %) of the
    clip's median. The contour alone read blurred, closing eyes as open (lp_d12, frames 49-53 and
    93, eyes shut on the sheet), the mesh alone reads slits as open (lp_s18, lp_s32);
  - the head turned less than 25° (yaw);
  - the gaze more than ``--below`` (5°) below the lens.
Blinks: the correlation of the lid gap (mesh) between input and output over all frames. Outside the
eyes: the largest absolute pixel difference outside the two eye openings (the mesh's eye contours of
the frame's analysis as the effect reads them, before the jitter filter: ``eye_landmarks``, with the part
of the iris model's lid contour the iris covers, ``eye_regions``; not grown). Shut eyes: per eye, frames whose lids as the picture shows them
are below 60 % of the clip's median gap; the mean and largest absolute change inside that eye's
opening there (a shut eye should keep its own pixels). ``--show CLIP:N,N,...`` writes before | after
pairs of those frames; ``eye_below_CLIP.png`` shows up to 10 qualifying frames, the largest moves.

The eye clips are split once, by identity (each clip is one person, and no person is in two clips:
checked on frames of every clip), into a tuning half (TUNING_EYE_CLIPS: constants are chosen on
these only) and a reporting half (REPORTING_EYE_CLIPS: the numbers quoted). The clips whose people
were used to choose constants in earlier rounds (d6, d3, s18, s32) are in the tuning half. The
summary pools each half's qualifying frames.

Speed: one thread, alternating per frame on the same decoded frames: the face stage without irises,
with irises every frame and with irises carried, and each effect (and, with ``--before``, an older
copy of it); medians and means of the effect's own time plus, for eye contact, the face stage's
extra time for irises.

Contact sheets go to ``out/studio/`` (never committed: they show shared-data faces).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livecam import settings as S
from livecam.analysis import Analyzer
from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width

DATA = Path(os.environ.get("LIVECAM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "video"
OUT = ROOT / "out" / "studio"
KEY_CLIPS = ("lp_s18_room_landscape.mp4", "lp_s32_outdoor_landscape.mp4", "lp_d9_webcam_room.mp4",
             "lp_d20_talking_dim.mp4", "lp_d12_talking_indoor.mp4")
# Fixed once (issue 21), by identity: eleven clips, eleven different people.
TUNING_EYE_CLIPS = ("lp_d6_expressions.mp4", "lp_d3_expressions.mp4", "lp_s18_room_landscape.mp4",
                    "lp_s32_outdoor_landscape.mp4", "lp_d0_greenscreen.mp4")
REPORTING_EYE_CLIPS = ("lp_d18_frontal_plain.mp4", "lp_d9_webcam_room.mp4", "lp_d12_talking_indoor.mp4",
                       "lp_d19_frontal_glasses.mp4", "lp_d20_talking_dim.mp4",
                       "st_WDA_AlexandriaOcasioCortez_000.mp4")
EYE_CLIPS = TUNING_EYE_CLIPS + REPORTING_EYE_CLIPS
MEASURABLE_IRIS = 0.6  # share of the iris's diameter the picture's lids must leave visible, each eye
MESH_OPEN = 0.8  # the mesh's lid gap over the clip's median, both eyes summed
HEAD_TURN = 25.0


def frames(path: Path, limit: int | None = None):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while limit is None or n < limit:
        ok, frame = cap.read()
        if not ok:
            break
        yield frame
        n += 1
    cap.release()


def poly_mask(shape, landmarks, indices) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.rint(landmarks[list(indices), :2]).astype(np.int32)], 255)
    return m


def luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def lab_ab(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    return np.median(lab[where > 0][:, 1:], axis=0)


# ---------------------------------------------------------------- key light


def eval_key_light(clips, strength: int, every: int, warm: int, sheet_rows: int = 3) -> dict:
    from livecam.effects import BackgroundSettings, KeyLightSettings
    from livecam.effects.key_light import KeyLight

    settings = S.update(S.Settings(), background={"mode": "blur"})  # blur only makes the analyzer keep the mask
    results = {}
    OUT.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        analyzer = Analyzer(settings, offline=True)
        effect = KeyLight(KeyLightSettings(strength=strength), BackgroundSettings(mode="off"))
        rows, sheet = [], []
        for n, frame in enumerate(frames(DATA / clip)):
            analysis = analyzer.analyze(frame, {"faces", "mask"})
            out, _ = effect.apply(frame, analysis)
            if n < warm or n % every or not analysis.faces or analysis.mask is None:
                continue
            lm = analysis.faces[0].landmarks
            fw = face_width(lm)
            oval = poly_mask(frame.shape, lm, regions.FACE_OVAL)
            oval = cv2.erode(oval, np.ones((3, 3), np.uint8), iterations=max(1, int(0.03 * fw)))
            skin = oval.copy()
            for feature in ("right_eye", "left_eye", "right_brow", "left_brow", "lips"):
                skin[poly_mask(frame.shape, lm, regions.FEATURES[feature]) > 0] = 0
            person = analysis.mask > 127
            room = cv2.erode((~person).astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
            grown = [cv2.dilate(person.astype(np.uint8), np.ones((k, k), np.uint8)) > 0 for k in (5, 25, 81)]
            band = grown[1] & ~grown[0]  # 2-12 px outside the outline
            far = grown[2] & ~grown[1]  # 12-40 px outside: the room just beyond the band
            y0, y1 = luma(frame), luma(out)
            face_before, face_after = np.median(y0[oval > 0]), np.median(y1[oval > 0])
            d = y1 - y0
            ab0, ab1 = lab_ab(frame, skin), lab_ab(out, skin)
            rows.append({
                "frame": n,
                "face_luma_gain": float(face_after / max(face_before, 1e-6) - 1.0),
                "room_luma_change": float(y1[room].mean() / max(y0[room].mean(), 1e-6) - 1.0) if room.any() else 0.0,
                "skin_dE_ab": float(np.hypot(*(ab1 - ab0))),
                "clipped_face_after": float((out[oval > 0].max(1) >= 254).mean()),
                "clipped_face_before": float((frame[oval > 0].max(1) >= 254).mean()),
                "rim_minus_next_room": float(d[band].mean() - d[far].mean()) if band.any() and far.any() else 0.0,
            })
            if len(sheet) < sheet_rows and n % (every * 3) == 0:
                sheet.append(_crop_pair(frame, out, analysis.faces[0].box, fw))
        if sheet:
            cv2.imwrite(str(OUT / f"key_light_{Path(clip).stem}.png"), np.vstack(sheet))
        results[clip] = _summarise(rows)
    return results


def _crop_pair(before: np.ndarray, after: np.ndarray, box, fw: float, size: int = 360) -> np.ndarray:
    h, w = before.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = int(1.1 * fw)
    x0, y0 = int(np.clip(cx - half, 0, max(w - 2 * half, 0))), int(np.clip(cy - half, 0, max(h - 2 * half, 0)))
    crops = [cv2.resize(img[y0:y0 + 2 * half, x0:x0 + 2 * half], (size, size)) for img in (before, after)]
    return np.hstack(crops)


def _summarise(rows: list[dict]) -> dict:
    if not rows:
        return {"frames": 0}
    keys = [k for k in rows[0] if k != "frame"]
    out = {"frames": len(rows)}
    for k in keys:
        values = [r[k] for r in rows]
        out[k] = {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
                  "max": round(max(values), 4)}
    return out


# ---------------------------------------------------------------- eye contact


def eye_estimates(tracker, image):
    """(gaze degrees (yaw, pitch: + = below the camera), head yaw, lid gaps (r, l), the picture's
    lid gaps (r, l), the share of each iris's diameter the picture's lids leave visible (r, l)) or
    None."""
    from livecam.effects.eye_contact import gaze_angles, lid_openness, visible_iris

    faces = tracker.process(image, want_iris=True, fresh_iris=True)  # the model's own estimate, every frame
    if not faces or faces[0].iris is None:
        return None
    f = faces[0]
    return (gaze_angles(f.landmarks, f.iris), f.pose[0], lid_openness(f.landmarks), tuple(f.lids),
            visible_iris(f.landmarks, f.iris, f.lids))


def measurable_below(estimate, below: float) -> bool:
    """The input frame's gaze is measurably more than ``below`` degrees below the lens: see the
    module's docstring."""
    return (min(estimate[4]) >= MEASURABLE_IRIS and abs(estimate[1]) < HEAD_TURN
            and estimate[0][1] > below)


def eval_eye_contact(clips, below: float, camera: str = "above", limit: int | None = None,
                     show: dict | None = None) -> dict:
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.effects import EyeContactSettings
    from livecam.effects.eye_contact import EYES, EyeContact, eye_landmarks, eye_regions

    results, sheets = {}, []
    OUT.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        analyzer = Analyzer(S.Settings(), offline=True)
        effect = EyeContact(EyeContactSettings(enabled=True, camera=camera), S.AvatarSettings())
        judge_in = FaceTracker(S.FaceSettings(smoothing=False), S.RuntimeSettings(provider="cpu"))
        judge_out = FaceTracker(S.FaceSettings(smoothing=False), S.RuntimeSettings(provider="cpu"))
        gaze_in, gaze_out, lids_in, lids_out, outside, picked, candidates = [], [], [], [], [], [], []
        below_frames = []  # (move in degrees, frame, before | after pair) of qualifying frames
        seen, shown = [], []  # per frame and eye: (picture lid gap, mean and max change in the eye)
        wanted = set((show or {}).get(clip, ()))
        for n, frame in enumerate(frames(DATA / clip, limit)):
            analysis = analyzer.analyze(frame, {"faces", "iris"})
            out, _ = effect.apply(frame, analysis)
            diff = np.abs(out.astype(np.int16) - frame).max(2)
            if analysis.faces:  # the openings the effect may change: the eyes as the picture shows them
                face = analysis.faces[0]
                eyes = eye_regions(eye_landmarks(face), frame.shape, face.eye_openings, face.iris)
                outside.append(int(diff[eyes == 0].max()))
            if n in wanted and analysis.faces:
                shown.append(_eye_pair(frame, out, analysis.faces[0].landmarks))
            a, b = eye_estimates(judge_in, frame), eye_estimates(judge_out, out)
            if a is None or b is None:
                continue
            for k, (contour, _, _) in enumerate(EYES):
                one = poly_mask(frame.shape, eye_landmarks(analysis.faces[0]), contour) if analysis.faces else None
                inside = diff[one > 0] if one is not None and one.any() else np.zeros(1)
                seen.append((k, a[3][k], float(inside.mean()), int(inside.max()), n))
            lids_in.append(sum(a[2]))
            lids_out.append(sum(b[2]))
            g_in = np.hypot(*a[0])
            g_out = np.hypot(*b[0])
            gaze_in.append(g_in)
            gaze_out.append(g_out)
            if measurable_below(a, below):
                picked.append((n, g_in, g_out, a[0], b[0], sum(a[2])))
                if analysis.faces:
                    pair = _eye_pair(frame, out, analysis.faces[0].landmarks)
                    cv2.putText(pair, str(n), (3, 14), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 255, 255), 1)
                    below_frames.append((g_in - g_out, n, pair, sum(a[2])))
                    if len(picked) % 7 == 1:
                        candidates.append((sum(a[2]), pair))
        usual = float(np.median(lids_in)) if lids_in else 0.0
        picked_contour_only = len(picked)
        picked = [p for p in picked if p[5] >= MESH_OPEN * usual]
        below_frames = [r for r in below_frames if r[3] >= MESH_OPEN * usual]
        sheets += [pair for lids, pair in candidates if lids >= MESH_OPEN * usual][:3]
        if below_frames:  # the largest moves, where artefacts show first
            best = sorted(below_frames, key=lambda r: -r[0])[:10]
            rows = [r[2] for r in sorted(best, key=lambda r: r[1])]
            width = max(x.shape[1] for x in rows)
            cv2.imwrite(str(OUT / f"eye_below_{Path(clip).stem}.png"),
                        np.vstack([np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0))) for x in rows]))
        corr = float(np.corrcoef(lids_in, lids_out)[0, 1]) if len(lids_in) > 2 else float("nan")
        shut = []
        for k in (0, 1):
            rows = [r for r in seen if r[0] == k]
            usual_gap = statistics.median([r[1] for r in rows]) if rows else 0.0
            shut += [r for r in rows if r[1] < 0.6 * usual_gap]
        if shown:
            width = max(x.shape[1] for x in shown)
            cv2.imwrite(str(OUT / f"eye_frames_{Path(clip).stem}.png"),
                        np.vstack([np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0))) for x in shown]))
        results[clip] = {
            "half": "tuning" if clip in TUNING_EYE_CLIPS else "reporting" if clip in REPORTING_EYE_CLIPS else "-",
            "below_angles": [(round(p[1], 3), round(p[2], 3)) for p in picked],
            "frames": len(gaze_in),
            "below_frames_by_the_contour_alone": picked_contour_only,
            "below_frames": len(picked),
            "below_angle_before_median": round(statistics.median([p[1] for p in picked]), 2) if picked else None,
            "below_angle_after_median": round(statistics.median([p[2] for p in picked]), 2) if picked else None,
            "below_down_before_median": round(statistics.median([p[3][1] for p in picked]), 2) if picked else None,
            "below_down_after_median": round(statistics.median([p[4][1] for p in picked]), 2) if picked else None,
            "all_angle_before_median": round(statistics.median(gaze_in), 2) if gaze_in else None,
            "all_angle_after_median": round(statistics.median(gaze_out), 2) if gaze_out else None,
            "blink_correlation": round(corr, 4),
            "max_abs_diff_outside_eyes": max(outside) if outside else None,
            "shut_eye_frames": len(shut),
            "shut_eye_change_mean": round(statistics.fmean([r[2] for r in shut]), 3) if shut else None,
            "shut_eye_change_max": max(r[3] for r in shut) if shut else None,
            "shut_eye_worst_frames": sorted({r[4] for r in sorted(shut, key=lambda r: -r[3])[:5]}) if shut else None,
        }
    if sheets:
        width = max(s.shape[1] for s in sheets)
        cv2.imwrite(str(OUT / "eye_contact_sheet.png"),
                    np.vstack([np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0))) for s in sheets]))
    summary = {"rule": f"both irises >= {MEASURABLE_IRIS:.0%} visible between the picture's lids, the mesh's lid "
                       f"gap >= {MESH_OPEN:.0%} of the clip's median, head turned < {HEAD_TURN:.0f} deg, gaze > "
                       f"{below:g} deg below the lens (input, judge's fresh model run)"}
    for half, members in (("tuning", TUNING_EYE_CLIPS), ("reporting", REPORTING_EYE_CLIPS)):
        pooled = [a for c in members if c in results for a in results[c]["below_angles"]]
        if any(c in results for c in members):
            summary[half] = {
                "clips": [c for c in members if c in results],
                "below_frames": len(pooled),
                "below_angle_before_median": round(statistics.median(a for a, _ in pooled), 2) if pooled else None,
                "below_angle_after_median": round(statistics.median(b for _, b in pooled), 2) if pooled else None,
                "blink_correlation_min": min(results[c]["blink_correlation"] for c in members if c in results),
                "max_abs_diff_outside_eyes": max((results[c]["max_abs_diff_outside_eyes"] or 0)
                                                 for c in members if c in results),
            }
    for r in results.values():
        r.pop("below_angles")
    results["summary"] = summary
    return results


def _eye_pair(before, after, landmarks, height: int = 120) -> np.ndarray:
    """Before | after of both eyes, scaled to ``height`` pixels (the sheet's rows line up)."""
    eyes = landmarks[list(regions.RIGHT_EYE) + list(regions.LEFT_EYE), :2]
    x0, y0 = eyes.min(0)
    x1, y1 = eyes.max(0)
    m = 0.12 * (x1 - x0)
    scale = height / (y1 - y0 + 2 * m)
    x0, y0, x1, y1 = int(max(x0 - m, 0)), int(max(y0 - m, 0)), int(x1 + m), int(y1 + m)
    crops = [cv2.resize(img[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
             for img in (before, after)]
    return np.hstack(crops)


# ---------------------------------------------------------------- speed


def _load_file(path: Path, name: str):
    """A module from a file outside the package (an older copy of an effect, for A/B timing)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def eval_speed(clip: str, n: int, before: Path | None = None) -> dict:
    """Per frame, alternating on the same decoded 720p frame: the face stage without irises, with the
    iris model on both eyes every frame (``fresh``, as before the carry) and with irises carried
    between runs (what the pipeline does), the key light and eye contact. Medians and means of this
    thread's CPU time (the machine may be shared; CPU time is what one core would spend) and of wall
    time, with the allocator tuned as the pipeline tunes it. The carried iris costs a model run on
    some frames and almost nothing on the others, so its mean is the fair per-frame cost. ``before``:
    a folder with older key_light.py and eye_contact.py, timed in the same run, the order of the two
    versions swapped every frame."""
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.effects import BackgroundSettings, EyeContactSettings, KeyLightSettings
    from livecam.effects.eye_contact import EyeContact
    from livecam.effects.key_light import KeyLight
    from livecam.perf import tune_allocator
    from livecam.types import Analysis

    tune_allocator()
    cv2.setNumThreads(1)
    images = [cv2.resize(f, (1280, 720)) for f in frames(DATA / clip, n)]
    runtime = S.RuntimeSettings(provider="cpu", threads=1)
    trackers = {k: FaceTracker(S.FaceSettings(), runtime) for k in ("face", "face_iris", "face_iris_fresh")}
    key = KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    eye = EyeContact(EyeContactSettings(enabled=True), S.AvatarSettings())
    old = {}
    if before is not None:
        old["key_light_before"] = _load_file(before / "key_light.py", "_before_key_light").KeyLight(
            KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
        old["eye_contact_before"] = _load_file(before / "eye_contact.py", "_before_eye_contact").EyeContact(
            EyeContactSettings(enabled=True), S.AvatarSettings())
    trackers["face_iris"].process(images[0], want_iris=True)  # open both sessions before timing
    names = tuple(trackers) + ("key_light", "eye_contact") + tuple(old)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}

    def timed(name, fn, *args, **kw):
        w0, c0 = time.perf_counter(), time.thread_time()
        result = fn(*args, **kw)
        wall[name].append((time.perf_counter() - w0) * 1e3)
        cpu[name].append((time.thread_time() - c0) * 1e3)
        return result

    for k in range(2):
        for tracker in trackers.values():
            tracker.reset()
        for i, image in enumerate(images):
            stages = [("face", {}), ("face_iris", {"want_iris": True}),
                      ("face_iris_fresh", {"want_iris": True, "fresh_iris": True})]
            found = {}
            for name, kw in (stages if (i + k) % 2 else stages[::-1]):
                found[name] = timed(name, trackers[name].process, image, **kw)
            plain, with_iris = Analysis(faces=found["face"]), Analysis(faces=found["face_iris"])
            runs = [("key_light", key, plain), ("eye_contact", eye, with_iris)]
            if old:
                runs += [("key_light_before", old["key_light_before"], plain),
                         ("eye_contact_before", old["eye_contact_before"],
                          Analysis(faces=found["face_iris_fresh"]))]
                if (i + k) % 2:
                    runs = runs[2:] + runs[:2]
            for name, effect, analysis in runs:
                timed(name, effect.apply, image, analysis)
    report = {"clip": clip, "frames": len(wall["face"]), "size": "1280x720", "threads": 1,
              "eye_contact_weight_last": round(eye.weight, 2), "load_average": os.getloadavg()}
    for label, table in (("cpu_ms", cpu), ("wall_ms", wall)):
        for stat, f in (("median", statistics.median), ("mean", statistics.fmean)):
            m = {k: f(v) for k, v in table.items()}
            row = {"face_stage": m["face"], "iris_carried_extra": m["face_iris"] - m["face"],
                   "iris_fresh_extra": m["face_iris_fresh"] - m["face"], "key_light": m["key_light"],
                   "eye_contact_apply": m["eye_contact"],
                   "eye_contact_with_iris": m["eye_contact"] + m["face_iris"] - m["face"]}
            for name in old:
                row[name] = m[name]
            if old:
                row["eye_contact_before_with_iris"] = m["eye_contact_before"] + m["face_iris_fresh"] - m["face"]
            report[f"{label}_{stat}"] = {k: round(v, 2) for k, v in row.items()}
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    k = sub.add_parser("key-light")
    k.add_argument("--clips", nargs="*", default=list(KEY_CLIPS))
    k.add_argument("--strength", type=int, default=70)
    k.add_argument("--every", type=int, default=10)
    k.add_argument("--warm", type=int, default=8)
    e = sub.add_parser("eye-contact")
    e.add_argument("--clips", nargs="*", default=None, help="default: the --half's clips")
    e.add_argument("--half", choices=("tuning", "reporting", "all"), default="all")
    e.add_argument("--below", type=float, default=5.0, help="degrees below the lens that count as 'looking below'")
    e.add_argument("--camera", default="above")
    e.add_argument("--limit", type=int, default=None, help="frames per clip")
    e.add_argument("--show", nargs="*", default=[], help="CLIP:N,N,... frames to write as before | after pairs")
    s = sub.add_parser("speed")
    s.add_argument("--clip", default="lp_s18_room_landscape.mp4")
    s.add_argument("--frames", type=int, default=40)
    s.add_argument("--before", type=Path, default=None,
                   help="folder with older key_light.py and eye_contact.py to time alongside (A/B)")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    if args.what == "key-light":
        report = eval_key_light(args.clips, args.strength, args.every, args.warm)
    elif args.what == "eye-contact":
        show = {c: [int(n) for n in ns.split(",")] for c, ns in (x.split(":") for x in args.show)}
        clips = args.clips or list({"tuning": TUNING_EYE_CLIPS, "reporting": REPORTING_EYE_CLIPS,
                                    "all": EYE_CLIPS}[args.half])
        report = eval_eye_contact(clips, args.below, args.camera, args.limit, show)
    else:
        report = eval_speed(args.clip, args.frames, args.before)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
