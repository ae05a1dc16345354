"""The colour ranges an FFmpeg encoder declares, as ffmpeg itself asks them.

FFmpeg (7.1 on) says per encoder whether it writes full-range Y'CbCr, video range or both
(``avcodec_get_supported_config``), and ffmpeg converts a full-range input to video range for an
encoder that takes that alone (ProRes, DNxHD, MPEG-2). PyAV does not wrap the call, so it is
made here on the libavcodec PyAV loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os

import av

FULL = 2  # AVCOL_RANGE_JPEG
COLOR_RANGE = 5  # AV_CODEC_CONFIG_COLOR_RANGE


@functools.cache
def _libavcodec() -> ctypes.CDLL | None:
    """PyAV's libavcodec: the one its wheel carries (Linux, Windows: av.libs; macOS: av/.dylibs),
    else the system's it was built against; None where none has the call (FFmpeg before 7.1)."""
    here = os.path.dirname(av.__file__)
    found = [*glob.glob(os.path.join(here, os.pardir, "av.libs", "*avcodec*")),
             *glob.glob(os.path.join(here, ".dylibs", "*avcodec*")), ctypes.util.find_library("avcodec")]
    for path in filter(None, found):
        try:
            lib = ctypes.CDLL(path)
            query, find = lib.avcodec_get_supported_config, lib.avcodec_find_encoder_by_name
        except (OSError, AttributeError):
            continue
        find.restype, find.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        query.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint,
                          ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int)]
        return lib
    return None


@functools.cache
def colour_ranges(encoder: str) -> frozenset[int] | None:
    """The ranges ``encoder`` declares it writes (1 video, 2 full); None where it declares none
    (raw and R'G'B' encoders) or the call is missing."""
    lib = _libavcodec()
    codec = lib.avcodec_find_encoder_by_name(encoder.encode()) if lib else None
    if not codec:
        return None
    values, count = ctypes.c_void_p(), ctypes.c_int()
    if lib.avcodec_get_supported_config(None, codec, COLOR_RANGE, 0, ctypes.byref(values), ctypes.byref(count)) < 0 \
            or not values.value:
        return None
    ranges = ctypes.cast(values, ctypes.POINTER(ctypes.c_int))
    return frozenset(ranges[i] for i in range(count.value))
