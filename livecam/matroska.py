"""The least Matroska framing that carries each frame's time to ffmpeg through a pipe.

Raw video on a pipe has no time of its own, and a live recording's frames come at the pipeline's
pace, not at a fixed rate; so :class:`livecam.recording.VideoWriter` (``timing="clock"``) wraps each
frame in a Cluster with its millisecond timestamp, and the recorded duration is the wall time.
Only the few elements ffmpeg's reader needs are written; nothing here reads Matroska.
"""

from __future__ import annotations


def _element(ident: bytes, payload: bytes) -> bytes:
    return ident + b"\x01" + len(payload).to_bytes(7, "big") + payload


def _uint(ident: bytes, value: int) -> bytes:
    return _element(ident, int(value).to_bytes(8, "big"))


def _mkv_header(width: int, height: int) -> bytes:
    """An EBML header, a Segment of unknown size, millisecond timestamps and one raw BGR video track.

    Raw video cannot carry a time per frame on a pipe; this is the least framing ffmpeg reads it from."""
    ebml = _element(b"\x1a\x45\xdf\xa3", _element(b"\x42\x82", b"matroska") + _uint(b"\x42\x87", 4)
                    + _uint(b"\x42\x85", 2))
    info = _element(b"\x15\x49\xa9\x66", _uint(b"\x2a\xd7\xb1", 1_000_000))
    video = _element(b"\xe0", _uint(b"\xb0", width) + _uint(b"\xba", height) + _element(b"\x2e\xb5\x24", b"BGR\x18"))
    track = _element(b"\xae", _uint(b"\xd7", 1) + _uint(b"\x73\xc5", 1) + _uint(b"\x83", 1)
                     + _element(b"\x86", b"V_UNCOMPRESSED") + video)
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff"
    return ebml + segment + info + _element(b"\x16\x54\xae\x6b", track)


def _mkv_frame_prefix(ms: int, size: int) -> bytes:
    """A Cluster at ``ms`` holding one keyframe SimpleBlock of ``size`` bytes; the bytes follow."""
    block_head = b"\x81\x00\x00\x80"  # track 1, relative time 0, keyframe
    timecode = _uint(b"\xe7", ms)
    block_len = len(block_head) + size
    block = b"\xa3\x01" + block_len.to_bytes(7, "big") + block_head
    cluster_len = len(timecode) + len(block) + size
    return b"\x1f\x43\xb6\x75\x01" + cluster_len.to_bytes(7, "big") + timecode + block
