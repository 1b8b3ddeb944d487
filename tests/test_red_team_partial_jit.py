"""Red team (redteam8): numba compiling some of a module's loops and not others (one loop's types
rejected by this numba, an LLVM fault on one function). Each module's READY flag must then be False
and every caller keep to the numpy/OpenCV steps, never call a loop that is not there: the same
frames, bit for bit (a rare pixel a level apart where the key light's loops would have run), and
no problem reported."""
import pytest

from test_red_team_faults import (_FACE_CONFIGS, _blur_frames, _face_run, face_frames, moving_frames,  # noqa: F401
                                  same_blur_without_loops, same_without_loops, still, usual_blur, usual_faces)

# numba refuses the first loop of each kernel module (and one compositing loop, which has a numpy
# twin) and compiles the rest.
_PARTIAL = """
import numba
_real_njit = numba.njit
_REFUSED = {"scaled_into", "tensor_into", "scale_into", "relight_grain_rows", "person_over"}
def _njit(*args, **options):
    if args and callable(args[0]):
        return _real_njit(*args, **options)
    def wrap(fn):
        if fn.__name__ in _REFUSED:
            raise numba.core.errors.TypingError(f"{fn.__name__}: refused by the test")
        return _real_njit(*args, **options)(fn)
    return wrap
numba.njit = _njit
"""


@pytest.mark.parametrize("config", sorted(_FACE_CONFIGS))
def test_a_module_with_some_loops_compiled_keeps_the_same_frames(face_frames, usual_faces, tmp_path,  # noqa: F811
                                                                 config):
    usual, said_usual = usual_faces[config]
    out, said = _face_run(face_frames, tmp_path, config, _PARTIAL)
    assert said["problems"] == [], said
    needed = ("effect_kernels", "face_kernels") if config == "studio" else ("swap_kernels", "face_kernels")
    assert all(said["ready"][k] is False for k in needed), said
    same_without_loops(out, usual, config)


def test_the_mask_and_compositing_loops_partly_compiled_keep_the_same_blur(moving_frames, usual_blur,  # noqa: F811
                                                                           tmp_path):
    usual, said_usual = usual_blur
    out, said = _blur_frames(moving_frames, tmp_path, _PARTIAL)
    assert said["problems"] == [], said
    assert said["fallback"] is not None, said  # person_over's numpy twin runs, the other loops compiled
    same_blur_without_loops(out, usual)
