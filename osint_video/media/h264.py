"""H.264 bitstream peeking: which pictures are references, which are B pictures.

Read from the NAL and slice headers of each packet (no decoding), so the frame source can drop
packets no other picture depends on.
"""

from __future__ import annotations


def avcc_length_size(extradata: bytes | None) -> int | None:
    """NAL length-prefix size of an AVCC (MP4) H.264 stream; None for Annex B start codes."""
    if extradata and len(extradata) > 4 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    return None


def h264_frame_kind(data: bytes, nal_len: int | None) -> tuple[bool, bool]:
    """(is a reference, is a B picture) from the first coded slice's NAL and slice headers.

    Only nal_ref_idc and the first two Exp-Golomb fields are read; unknown layouts count as
    reference P pictures, so a mistake can only cost time, never a wrong picture.
    """
    if nal_len is None:
        return True, False
    pos, n = 0, len(data)
    while pos + nal_len < n:
        size = int.from_bytes(data[pos : pos + nal_len], "big")
        header = data[pos + nal_len]
        if header & 0x1F in (1, 5):
            bits = int.from_bytes(
                data[pos + nal_len + 1 : pos + nal_len + 9].ljust(8, b"\0"), "big"
            )
            _first_mb, bits, _used = _ue(bits, 64)
            slice_type, _bits, _used = _ue(bits, 64)
            return bool(header & 0x60), slice_type % 5 == 1
        pos += nal_len + size
    return True, False


def _ue(bits: int, width: int) -> tuple[int, int, int]:
    """Read one unsigned Exp-Golomb value from the top of a `width`-bit integer."""
    zeros = 0
    while zeros < width and not (bits >> (width - 1 - zeros)) & 1:
        zeros += 1
    used = 2 * zeros + 1
    if used > width:
        return 0, 0, width
    value = (bits >> (width - used)) & ((1 << used) - 1)
    rest = bits & ((1 << (width - used)) - 1)
    return value - 1, rest << used, used
