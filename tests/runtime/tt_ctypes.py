"""ctypes bindings of harness/firmware_src/runtime/tt_kernels.h for the host-native kernel tests.

Builds every ``harness/firmware_src/runtime/kernels/*.c`` into one shared library (with
``harness.toolchain.build_host_library`` when it exists, else host gcc directly) and mirrors
the header's parameter structs. Arrays are passed as numpy arrays (C-contiguous, exact dtype).
"""
from __future__ import annotations

import ctypes as ct
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "harness" / "firmware_src" / "runtime"
SOURCES = sorted((RUNTIME / "kernels").glob("*.c"))

#: Flags the kernels must build cleanly with (host and firmware); -Wdouble-promotion keeps
#: double out of the training path, -ffp-contract=off keeps FMA out of float results.
STRICT_FLAGS = ["-std=c11", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
                "-Wdouble-promotion", "-Wshadow", "-Wconversion", "-Wstrict-prototypes",
                "-Wmissing-prototypes"]
ARM_FLAGS = ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard",
             "-ffreestanding", "-nostdlib"]

i32, u32, f32 = ct.c_int32, ct.c_uint32, ct.c_float
P = ct.c_void_p


class ConvParams(ct.Structure):
    _fields_ = [(n, i32) for n in ("in_h", "in_w", "in_c", "out_c", "kernel", "stride", "pad",
                                   "k", "x_zp", "y_zp", "act_min", "act_max",
                                   "x_row0", "out_row0", "out_rows")]
    _fields_ += [("kernel_w", ct.c_int16), ("stride_w", ct.c_int16), ("pad_bottom", ct.c_int8),
                 ("pad_left", ct.c_int8), ("pad_right", ct.c_int8)]


class PerChannelQuant(ct.Structure):
    _fields_ = [("multiplier", P), ("shift", P)]


class AddParams(ct.Structure):
    _fields_ = [(n, i32) for n in ("a_zp", "b_zp", "y_zp", "a_multiplier", "a_shift",
                                   "b_multiplier", "b_shift", "out_multiplier", "out_shift")]


class AvgPoolParams(ct.Structure):
    _fields_ = [(n, i32) for n in ("h", "w", "c", "x_zp", "y_zp", "multiplier", "shift")]


class FcParams(ct.Structure):
    _fields_ = [(n, i32) for n in ("in_n", "out_n", "x_zp", "y_zp", "act_min", "act_max")]


class FcF32Params(ct.Structure):
    _fields_ = [("in_n", i32), ("out_n", i32), ("x_zp", i32), ("x_scale", f32)]


class Rng(ct.Structure):
    _fields_ = [("state", u32)]


class UpdateParams(ct.Structure):
    _fields_ = [("lr", f32), ("qas", i32), ("rounding", i32), ("rng", ct.POINTER(Rng)), ("residual", P)]


ROUND = {"nearest": 0, "stochastic": 1, "feedback": 2}

_R = ct.POINTER
# name: (restype, argtypes)
_SIGS = {
    "tt_requantize_s32": (None, [P, i32, i32, i32, P]),
    "tt_conv2d_s8": (None, [_R(ConvParams), _R(PerChannelQuant), P, P, P, P, P, P]),
    "tt_dwconv2d_s8": (None, [_R(ConvParams), _R(PerChannelQuant), P, P, P, P, P, P]),
    "tt_pwconv_s8": (None, [_R(ConvParams), _R(PerChannelQuant), P, P, P, P, P, P]),
    "tt_add_s8": (None, [_R(AddParams), P, P, P, i32]),
    "tt_avgpool_s8": (None, [_R(AvgPoolParams), P, P]),
    "tt_fc_s8": (None, [_R(FcParams), _R(PerChannelQuant), P, P, P, P, P]),
    "tt_fc_f32": (None, [_R(FcF32Params), P, P, P, P]),
    "tt_dequantize_s8_f32": (None, [P, i32, f32, i32, P]),
    "tt_copy_channels_s8": (None, [P, i32, i32, i32, P]),
    "tt_expf": (f32, [f32]),
    "tt_logf": (f32, [f32]),
    "tt_softmax_xent_f32": (f32, [P, i32, i32, P]),
    "tt_mask_apply_f32": (None, [P, P, i32, P]),
    "tt_accumulate_f32": (None, [P, P, i32]),
    "tt_avgpool_grad_input_f32": (None, [_R(AvgPoolParams), P, P]),
    "tt_bias_grad_f32": (None, [P, i32, i32, P]),
    "tt_conv2d_grad_weight_f32": (None, [_R(ConvParams), P, P, f32, P]),
    "tt_dwconv2d_grad_weight_f32": (None, [_R(ConvParams), P, P, f32, P]),
    "tt_pwconv_grad_weight_f32": (None, [_R(ConvParams), P, P, f32, P]),
    "tt_conv2d_grad_input_f32": (None, [_R(ConvParams), P, P, P, P, P]),
    "tt_dwconv2d_grad_input_f32": (None, [_R(ConvParams), P, P, P, P, P]),
    "tt_pwconv_grad_input_f32": (None, [_R(ConvParams), P, P, P, P, P]),
    "tt_xorshift32": (u32, [_R(Rng)]),
    "tt_rng_seed": (None, [_R(Rng), u32]),
    "tt_truncf": (f32, [f32]),
    "tt_floorf": (f32, [f32]),
    "tt_round_nearest_f32": (f32, [f32]),
    "tt_round_stochastic_f32": (f32, [f32, _R(Rng)]),
    "tt_update_weight_s8": (ct.c_int8, [ct.c_int8, f32, f32, _R(UpdateParams)]),
    "tt_update_weight_feedback_s8": (ct.c_int8, [ct.c_int8, P, f32, f32, _R(UpdateParams)]),
    "tt_update_bias_feedback_s32": (i32, [i32, P, f32, f32, _R(UpdateParams)]),
    "tt_update_bias_s32": (i32, [i32, f32, f32, _R(UpdateParams)]),
    "tt_apply_update_weight_s8": (None, [P, P, i32, i32, P, _R(UpdateParams)]),
    "tt_apply_update_bias_s32": (None, [P, P, i32, f32, P, _R(UpdateParams)]),
    "tt_bias_update_s32": (None, [P, P, i32, i32, f32, P, _R(UpdateParams)]),
    "tt_conv2d_update_weight_s8": (None, [_R(ConvParams), P, P, f32, P, P, _R(UpdateParams)]),
    "tt_dwconv2d_update_weight_s8": (None, [_R(ConvParams), P, P, f32, P, P, _R(UpdateParams)]),
    "tt_pwconv_update_weight_s8": (None, [_R(ConvParams), P, P, f32, P, P, _R(UpdateParams)]),
    "tt_fc_f32_backward_update": (None, [_R(FcF32Params), P, P, P, P, f32, P]),
    "tt_fc_s8_backward_update": (None, [_R(FcParams), P, P, P, f32, P, P, P, _R(UpdateParams), P]),
    "tt_checksum_fnv1a": (u32, [u32, P, i32]),
    "tt_checksum_fnv1a_s8": (u32, [u32, P, i32]),
    "tt_checksum_fnv1a_s32": (u32, [u32, P, i32]),
    "tt_checksum_fnv1a_f32": (u32, [u32, P, i32]),
}


def ptr(a: Optional[np.ndarray]) -> Optional[int]:
    """Address of a C-contiguous numpy array (None stays NULL)."""
    if a is None:
        return None
    if not a.flags["C_CONTIGUOUS"]:
        raise ValueError("pass C-contiguous arrays to the kernels")
    return a.ctypes.data


def per_channel(mult: np.ndarray, shift: np.ndarray) -> tuple[PerChannelQuant, tuple]:
    """A PerChannelQuant and the int32 arrays it points at (keep them alive)."""
    m = np.ascontiguousarray(mult, dtype=np.int32)
    s = np.ascontiguousarray(shift, dtype=np.int32)
    return PerChannelQuant(ptr(m), ptr(s)), (m, s)


def build_library(out_dir: Path) -> Path:
    """The kernels as a host shared library (toolchain helper when present, else gcc).

    ``TT_KERNELS_LIB=<path.so>`` uses a library built elsewhere (e.g. with sanitizers).
    """
    prebuilt = os.environ.get("TT_KERNELS_LIB")
    if prebuilt:
        return Path(prebuilt)
    try:
        from harness.toolchain import build_host_library  # type: ignore[attr-defined]
    except ImportError:
        build_host_library = None
    if build_host_library is not None:
        return Path(build_host_library(SOURCES, {}, [RUNTIME], {}, "tt_kernels_test"))
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("host gcc not found: install gcc to build the kernel test library")
    lib = out_dir / "libtt_kernels.so"
    cmd = [gcc, *STRICT_FLAGS, "-fPIC", "-shared", f"-I{RUNTIME}", "-o", str(lib),
           *map(str, SOURCES)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building the kernel library failed:\n{' '.join(cmd)}\n{proc.stderr}")
    return lib


def load(path: Path) -> ct.CDLL:
    lib = ct.CDLL(str(path))
    for name, (res, args) in _SIGS.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib
