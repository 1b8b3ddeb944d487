"""Red team round 25: faults nobody listed, swept over every library call a frame makes.

Instead of naming faults one by one, :mod:`fault_sweep` routes every call of the frame path into
ONNX Runtime, OpenCV, the compiled numba loops and numpy's allocators through one injector and makes
the k-th call of one boundary misbehave (raise; NaN, infinity, huge, negative, denormal or constant
outputs; a wrong shape or type; None; an empty list; MemoryError), for k over every call the frame
makes. After each: no frame raised, the room the user hid never showed (a checkerboard painted into
it is looked for), the face a swap or avatar hides never showed, an altered face never left without
its badge, and the good frames after a one-off fault came back.

A deterministic sweep of the cheap configurations, and hypothesis drawing (configuration, boundary,
call, fault, one-off or lasting) over all of them with a fixed seed. The fix-specific tests failed
on the start tree (bc0fda8)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import fault_sweep as F

# The faults make numpy warn (overflow, NaN cast) by design; what counts is checked with pixels.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    frames = F.clip_frames()
    if len(frames) < F.WARM + 1 + F.RECOVER:
        pytest.skip("the shared clip video/lp_d3_expressions.mp4 is not there")
    return frames


@pytest.fixture(scope="module")
def sweep(frames):
    """Every boundary routed through the injector for the module; the clean run of each
    configuration, made when first asked for."""
    patch = pytest.MonkeyPatch()
    F.install(patch)
    refs: dict[tuple[str, int], F.Reference] = {}
    logging.disable(logging.CRITICAL)  # thousands of faults, each said once per pipeline

    def reference(config: str, count: int = len(frames)) -> F.Reference:
        """``count``: frames in the run (F.WINDOW for a recovery as slow as the pipeline's fresh build)."""
        if (config, count) not in refs:
            scene = F.SCENES.get(config)
            made = frames if scene is None and count == len(frames) else F.scene_frames(scene or "one", count)
            refs[config, count] = F.Reference(config, made)
            # The wearer out of view beside someone else: those frames are hidden (wearer_lost).
            hidden = len(F.LOST) if scene == "two_lost" else 0
            assert refs[config, count].concealed == hidden and refs[config, count].problems == [], config
        return refs[config, count]

    yield reference
    logging.disable(logging.NOTSET)
    F.INJECTOR.disarm()
    patch.undo()


def _broken(ref: F.Reference, cases) -> list[str]:
    """Each case that broke a promise: the case, the call that misbehaved, what went wrong."""
    outcomes = [F.run_case(ref, case) for case in cases]
    return [f"{o.case} [{','.join(o.fired)}]: {'; '.join(o.broken)}" for o in outcomes if o.broken]


def test_the_sweep_sees_the_room_and_the_face_when_the_gate_is_bypassed(sweep, monkeypatch):
    """The checks themselves: with the gate letting everything out, a compiled loop that raises shows
    the raw room under a blur and the wearer's face under a swap, and the sweep says so."""
    from livecam.output_gate import OutputGate

    monkeypatch.setattr(OutputGate, "check", lambda self, image, settings, proof: image)
    for config, said in (("blur", "showed the raw room"), ("swap", "showed the wearer's face")):
        ref = sweep(config)
        at = ref.calls["numba"].index("person_over" if config == "blur" else "draw_triangles")
        outcome = F.run_case(ref, F.Case(config, "numba", "zerodiv", at))
        assert any(said in s for s in outcome.broken), outcome


def test_every_call_of_a_background_frame_faulted_in_every_way_keeps_the_room_hidden(sweep):
    """blur and image: every boundary, every fault, every call site of the frame (about 250 cases)."""
    broken = []
    for config in ("blur", "image"):
        ref = sweep(config)
        assert ref.sites("ort") >= 1 and ref.sites("cv2") >= 10 and ref.sites("numba") >= 10
        broken += _broken(ref, F.all_cases(ref))
    assert broken == [], "\n".join(broken)


_CONFIGS = sorted(F.CONFIGS)


@seed(2025)
@hsettings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(config=st.sampled_from(_CONFIGS), boundary=st.sampled_from(F.BOUNDARIES), data=st.data(),
       persist=st.booleans())
def test_a_drawn_fault_at_a_drawn_call_keeps_every_promise(sweep, config, boundary, data, persist):
    ref = sweep(config)
    sites = ref.sites(boundary)
    if not sites:
        return  # low light alone calls no model and no compiled loop
    case = F.Case(config, boundary, data.draw(st.sampled_from(F.KINDS[boundary])),
                  data.draw(st.integers(0, sites - 1)), persist)
    assert _broken(ref, [case]) == []


# ------------------------------------------------------------------ the faults the sweep found

def test_a_nan_in_the_smoothed_person_mask_is_dropped_not_held_for_good(sweep):
    """OpenCV's frame difference or the compiled smoothing loop writing NaN once: the NaN was kept in
    the held mask (NaN times the weight kept is NaN), so every frame after it went out hidden, for
    the rest of the session ('the person mask has values out of range')."""
    ref = sweep("blur")
    cases = [F.Case("blur", "cv2", "nan", ref.calls["cv2"].index("absdiff")),
             F.Case("blur", "numba", "nan", ref.calls["numba"].index("smooth_into"))]
    assert _broken(ref, cases) == []


def test_a_face_mesh_with_a_point_that_is_not_a_number_fails_the_effect_and_reaches_no_raster(monkeypatch):
    """A NaN in the mesh's destination points (one OpenCV call in the photo avatar's geometry
    returning NaN) became -2**31 as an integer corner, and OpenCV took 16 s to rasterise one such
    triangle: the frame path froze for minutes. Now the warp raises (the effect fails, its frame is
    hidden) before any corner reaches OpenCV; here OpenCV's raster refuses such a corner at once."""
    from livecam.effects import mesh_warp

    def raster(ids, corners, label, *args):
        assert np.abs(corners).max() < 2 ** 24, f"a corner at {corners.min()} reached OpenCV"
        return ids

    monkeypatch.setattr(mesh_warp.cv2, "fillConvexPoly", raster)
    monkeypatch.setattr(mesh_warp, "kernels", None)  # OpenCV's raster, as where numba is not there
    src = np.array([[0, 0], [40, 0], [0, 40], [40, 40], [20, 20]], np.float64)
    triangles = np.array([[0, 1, 4], [1, 3, 4], [3, 2, 4], [2, 0, 4]])
    warp, grid = mesh_warp.MeshWarp(src, triangles), mesh_warp.Grid(0, 0, 12, 12, 4)
    assert warp.coarse(src + 2.0, grid).shape == (12, 12, 2)
    dst = src + 2.0
    dst[4] = np.nan
    with pytest.raises(ValueError, match="not numbers"):
        warp.coarse(dst, grid)


def test_a_face_swap_whose_cover_came_out_empty_is_hidden_not_shown_as_swapped(sweep):
    """The swap's face oval eroded or feathered by an OpenCV call that returned NaN: cast to uint8
    the cover was 0 everywhere, the avatar reported the frame swapped, and the wearer's own face
    left under the AI-altered badge, unhidden."""
    ref = sweep("swap")
    calls = ref.calls["cv2"]
    cases = [F.Case("swap", "cv2", "nan", calls.index("erode")),
             F.Case("swap", "cv2", "nan", calls.index("sepFilter2D"))]
    assert _broken(ref, cases) == []


# ------------------------------------------------------------------ round 26: the live loop's second thread

def test_a_fault_on_the_live_loops_analysis_thread_is_seen_and_counted_for_its_frame(sweep, monkeypatch):
    """The live sweep's own check: with pipelining on, frame 3's mask model runs on the analysis
    thread (and through the run guard's thread) while frame 2 composites, and the fault armed for
    frame 3 reaches that call; with the gate letting everything out, a compositing loop that raises
    shows the raw room."""
    from livecam.output_gate import OutputGate

    ref = sweep("blur")
    outcome = F.run_case(ref, F.Case("blur", "ort", "raise", 0, live=True))
    assert outcome.fired == ["InferenceSession.run"] and outcome.broken == [], outcome
    monkeypatch.setattr(OutputGate, "check", lambda self, image, settings, proof: image)
    at = ref.calls["numba"].index("person_over")
    outcome = F.run_case(ref, F.Case("blur", "numba", "zerodiv", at, live=True))
    assert any("showed the raw room" in s for s in outcome.broken), outcome


def test_every_call_of_a_background_frame_in_the_pipelined_live_loop_keeps_the_room_hidden(sweep):
    """blur through LiveRunner with pipelining on: every boundary, every fault, every call site of
    frame 3, whichever thread makes it (about 130 cases)."""
    ref = sweep("blur")
    assert _broken(ref, F.all_cases(ref, live=True)) == []


# ------------------------------------------------------------------ the face detector's own frames

def test_every_fault_in_the_face_detectors_calls_on_its_frame_keeps_the_swap_hidden(sweep):
    """The detector runs on the first frame (one face, tracked after) and, under a swap, on every
    VERIFY_EVERY-th frame, where the mesh is held against it: its calls are faulted there, every kind
    at each. A detector output handed back as integers (uint8 in place of float32) was cast back to
    float and read as 'no face': the first frame left with the wearer's own face, unhidden, under a
    face swap."""
    from livecam.analysis.face_tracker import VERIFY_EVERY

    ref = sweep("swap")
    cadence = list(range(0, len(ref.frame_callers), VERIFY_EVERY))
    assert ref.detector_frames[:1] == [0] and set(cadence) <= set(ref.detector_frames), ref.detector_frames
    cases = [F.Case("swap", b, kind, at, frame=f) for f in ref.detector_frames for b in F.BOUNDARIES
             for kind in F.KINDS[b] for at, caller in enumerate(ref.frame_callers[f][b])
             if caller in ("livecam.analysis.face_detector", "face_detection_short_range")]
    assert len(cases) >= len(ref.detector_frames) * (11 + 2 * 5), cases
    assert _broken(ref, cases) == []


def test_a_model_output_of_integers_where_the_model_declares_floats_is_refused():
    from livecam.analysis.runtime import ModelOutputError, checked_outputs

    (out,) = checked_outputs("m", ["y"], [np.array([0.5, -2.0], np.float64)], {"y": (2,)}, frozenset({"y"}))
    assert out.dtype == np.float32 and out.tolist() == [0.5, -2.0]
    for dtype in (np.uint8, np.int32, np.bool_):
        with pytest.raises(ModelOutputError, match="not floats"):
            checked_outputs("m", ["y"], [np.array([1, 0], dtype)], {"y": (2,)}, frozenset({"y"}))
    (out,) = checked_outputs("m", ["y"], [np.array([3, 1], np.int64)], {"y": (2,)})  # declared integer: kept
    assert out.dtype == np.int64


# ------------------------------------------------------------------ redteam25's F4

def test_the_lights_weight_blur_coming_back_rounded_fails_the_relight(monkeypatch):
    """cv2.GaussianBlur handing back the weights' blur as uint8 (the sweep's swap/cv2/dtype at the
    light's weight blur): the shading took mostly the wearer's light and the swap left as a smear
    4.6 grey levels from the wearer's face (the clean swap: 14.7), badge on. Now the relight raises
    (the swap fails, its frame is hidden)."""
    from livecam.effects import avatar_light

    rng = np.random.default_rng(26)
    image, weights = rng.random((24, 24, 3), np.float32), rng.random((24, 24), np.float32)
    good = avatar_light.masked_lowpass(image, weights, 2.0)
    assert good.dtype == np.float32 and np.isfinite(good).all()
    real = avatar_light.cv2.GaussianBlur
    monkeypatch.setattr(avatar_light.cv2, "GaussianBlur",
                        lambda src, *a, **k: real(src, *a, **k).astype(np.uint8) if src.ndim == 2 else real(src, *a, **k))
    with pytest.raises(ValueError, match="weight blur"):
        avatar_light.masked_lowpass(image, weights, 2.0)


def test_a_face_oval_the_raster_never_drew_fails_the_swap_not_shown_as_swapped(sweep):
    """The swap's cover oval (cv2.fillPoly in face_alpha) returning without drawing: the cover was 0
    everywhere, the avatar said it swapped, and the wearer's face left unhidden under the badge
    (found by the live sweep; one frame at a time alike)."""
    ref = sweep("swap")
    names, callers = ref.calls["cv2"], ref.frame_callers[F.WARM]["cv2"]
    at = next(i for i, (n, c) in enumerate(zip(names, callers))
              if n == "fillPoly" and c == "livecam.effects.avatar" and names[i + 1] == "erode")
    cases = [F.Case("swap", "cv2", "none", at), F.Case("swap", "cv2", "none", at, live=True)]
    assert _broken(ref, cases) == []


def test_a_badge_label_drawn_without_its_text_is_not_kept_for_the_session(sweep):
    """The first frame draws the AI-altered label, kept for the session. OpenCV's putText drawing
    nothing there (found faulting the first frame, the detector's): every altered frame after it,
    the whole session, left with a blank plate for a badge. Now such a label is refused (that frame
    is hidden) and the next frame draws it again."""
    ref = sweep("swap")
    at = next(i for i, (n, c) in enumerate(zip(ref.frame_calls[0]["cv2"], ref.frame_callers[0]["cv2"]))
              if n == "putText" and c == "livecam.effects.badge")
    assert _broken(ref, [F.Case("swap", "cv2", "none", at, frame=0)]) == []


def test_the_photo_avatars_stage_keeps_no_wrong_picture_for_the_session(sweep):
    """A wrong shape or type from the OpenCV calls that lay the photo avatar's portrait out (the shut-eyes
    portrait, read on blinks only) or shrink its canvas for the background (read by the background, not
    the avatar) was kept for the session: every later frame hidden, the pipeline's fresh build of the
    failing effect never reaching it. Refused before they are kept, the good frames after come back."""
    ref = sweep("animate")
    names, callers = ref.frame_calls[0]["cv2"], ref.frame_callers[0]["cv2"]
    cases = [F.Case("animate", "cv2", kind, at, frame=0) for at, (name, caller) in enumerate(zip(names, callers))
             if caller == "livecam.effects.avatar_stage" and name in ("resize", "warpAffine", "copyMakeBorder")
             for kind in ("shape", "dtype")]
    assert len(cases) >= 10, cases
    assert _broken(ref, cases) == []


# ------------------------------------------------------------------ round 27: longer runs, the badge check, more faces

def test_a_recovery_slower_than_the_short_run_is_told_from_a_lasting_loss_by_the_long_one(sweep):
    """The short run (RECOVER frames after the fault) calls a fault that hides the picture for the
    pipeline's ~1 s before its fresh build 'still hidden'; over WINDOW frames the same case comes back
    (the photo avatar's stage cached a summed table OpenCV never made, on the first frame). The long run
    is what the sweep (``--window``) gives every case the short one flags."""
    ref, long = sweep("animate"), sweep("animate", F.WINDOW)
    at = next(i for i, (n, c) in enumerate(zip(ref.frame_calls[0]["cv2"], ref.frame_callers[0]["cv2"]))
              if n == "integral" and c == "livecam.effects.avatar_stage")
    case = F.Case("animate", "cv2", "none", at, frame=0)
    short = F.run_case(ref, case)
    assert any(s.startswith("still hidden") for s in short.broken), short
    from livecam.pipeline import FRESH_AFTER

    outcome = F.run_case(long, case)
    # Tried again 1, 2, 4 … frames apart: the sixth failure in a row, 31 frames on, builds it afresh.
    assert outcome.broken == [] and F.RECOVER < outcome.back <= 2 ** (FRESH_AFTER - 1) + 2, outcome

def test_an_altered_face_is_told_by_the_effect_that_altered_it_not_by_the_face_boxs_brightness(sweep, monkeypatch):
    """The sweep's badge check. In "all", low light, key light and auto-framing change the face's pixels
    on every frame; with the face analysis failed on the first frame (no face, so nothing altered it and
    no badge is due) the face box against the input read as an altered face without its badge: false
    alarms, all 8 of the face models' OpenCV calls raising there. The check now asks whether an effect
    that alters faces changed its picture; with the badge drawing nothing and the gate bypassed, it
    still sees every altered frame leave without its badge."""
    from livecam.effects.badge import Badge
    from livecam.output_gate import OutputGate

    ref = sweep("all")
    assert ref.altered == list(range(len(ref.frames))) and all(ref.badged)
    names, callers = ref.frame_calls[0]["cv2"], ref.frame_callers[0]["cv2"]
    cases = [F.Case("all", "cv2", "raise", at, frame=0) for at, caller in enumerate(callers)
             if caller.startswith("livecam.analysis.face_")]
    assert len(cases) >= 4 and _broken(ref, cases) == []
    monkeypatch.setattr(OutputGate, "check", lambda self, image, settings, proof: image)
    monkeypatch.setattr(Badge, "apply", lambda self, image, analysis, own=False: (image, {}))
    outcome = F.run_case(ref, F.Case("all", "alloc", "memory", 10 ** 6))  # a fault that never fires
    assert sum("left altered without its badge" in s for s in outcome.broken) == len(ref.frames), outcome


def test_the_swap_covers_the_wearer_again_after_the_face_was_lost_with_someone_else_in_view(sweep):
    """Room for more faces than one (max_faces 3), a second person beside the wearer, the wearer's head
    out of view for three frames: the tracker kept the other person's face, the wearer's came back as a
    newer track, second in the list, and the swap (which covers the first face) stayed on the other
    person. The wearer's own face left unswapped, unhidden, for the rest of the session."""
    ref = sweep("swap_two_lost")
    assert F.LOST.start + 1 in ref.detector_frames  # the frame after the loss looks for faces
    back = range(F.LOST.stop + 1, len(ref.frames))
    shown = [i for i in back if ref.face[i] < 0.35 * ref.face[F.WARM]]
    assert shown == [], f"the wearer's face left unswapped in frames {shown} ({[round(f, 1) for f in ref.face]})"


def test_a_face_blend_that_was_not_written_where_it_was_asked_fails_the_swap(sweep):
    """NaN from the swap's occluder cut (cv2.multiply of the cover by what is in front, asked for 8 bits)
    and from every OpenCV call after it in the frame (a lasting fault; found in the live loop): the cover
    reached the blend as floats, OpenCV's last add could not write its sum into the frame's face box
    (another type) and handed back a new array instead, which nobody read. The frame left with the
    wearer's own face (0.0 from it), unhidden, the swap counted as drawn."""
    ref = sweep("swap")
    names, callers = ref.calls["cv2"], ref.frame_callers[F.WARM]["cv2"]
    at = next(i for i, (n, c) in enumerate(zip(names, callers))
              if n == "multiply" and c == "livecam.effects.avatar" and names[i - 1] == "GaussianBlur")
    cases = [F.Case("swap", "cv2", "nan", at, persist=True), F.Case("swap", "cv2", "nan", at, persist=True, live=True)]
    assert _broken(ref, cases) == []


def test_the_avatars_small_mask_for_the_background_is_not_kept_with_values_that_are_not_numbers(sweep):
    """The photo avatar shrinks its canvas and mask once per size for the background's blur and keeps
    them for the session (``Stage.small``). The mask's resize handing back NaN on the first frame (the
    detector's) passed the shape and type checks; the background read the NaN mask on every frame, and
    every frame after it was hidden ('the person mask has values out of range'), 47 of 47 in a
    WINDOW-frame run: the fresh build of a failing effect never came, since nothing raised."""
    ref = sweep("animate", F.WINDOW)
    names, callers = ref.frame_calls[0]["cv2"], ref.frame_callers[0]["cv2"]
    # The last of the stage's pairs of resizes on that frame: the canvas's, then the mask's.
    at = max(i for i in range(1, len(names)) if names[i] == names[i - 1] == "resize"
             and callers[i] == callers[i - 1] == "livecam.effects.avatar_stage")
    assert _broken(ref, [F.Case("animate", "cv2", "nan", at, frame=0)]) == []


def test_a_face_stage_failure_while_a_lost_face_is_looked_for_hides_the_frame(sweep):
    """The wearer back in view beside someone else, and the detector's run on that frame failing (its
    model or its OpenCV calls; found sweeping the detector's frames of the lost-face scene): the
    analysis bridged the frame with the last faces, which held only the other person; the swap went
    there and the wearer's own face left unswapped, unhidden. While a lost face is looked for, the
    last faces prove nothing about it: the frame is hidden."""
    ref = sweep("swap_two_lost")
    back = F.LOST.stop  # the first frame with the wearer in view again: the detector finds them there
    assert back in ref.detector_frames
    callers = ref.frame_callers[back]
    cases = [F.Case("swap_two_lost", b, "raise", callers[b].index(caller), frame=back)
             for b, caller in (("ort", "face_detection_short_range"), ("cv2", "livecam.analysis.face_detector"))]
    assert _broken(ref, cases) == []
