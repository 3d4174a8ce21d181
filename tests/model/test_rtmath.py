"""The runtime's own float32 math: exp, log, loss, rounding, xorshift32, FNV-1a."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from harness.model import rtmath as M


def test_expf_relative_error_within_2_5_ulp():
    # Measured max 2.34e-7 over [-87, 88]: ~2 float32 ulp (2^-23 = 1.19e-7 relative).
    x = np.concatenate([np.linspace(-87, 88, 200001), np.linspace(-1, 1, 20001)]).astype(np.float32)
    rel = np.abs(M.tt_expf(x).astype(np.float64) / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 3e-7
    assert M.tt_expf(np.float32(0.0)) == np.float32(1.0)
    assert M.tt_expf(np.float32(-87.5)) == 0.0  # below -87 the spec returns 0
    assert M.tt_expf(np.float32(1000.0)) == M.tt_expf(np.float32(88.0))  # clamped at 88
    assert M.tt_expf(np.zeros(3, np.float32)).dtype == np.float32


def test_logf_error():
    # The series stops at t^9: at f -> 2 (t = 1/3) the truncation is 2 t^11 / 11 = 1.0e-6
    # (measured 1.24e-6 with rounding); for large z float32 rounding of ~ln z dominates
    # (~1 ulp). Bound: |tt_logf(z) - ln z| < 1.5e-6 * max(1, ln z) on [1, 1e38].
    z = np.exp(np.linspace(0, 87.5, 200001)).astype(np.float32)
    z = np.concatenate([z, np.linspace(1, 2, 10001, dtype=np.float32)])
    ln = np.log(z.astype(np.float64))
    err = np.abs(M.tt_logf(z).astype(np.float64) - ln)
    assert np.all(err < 1.5e-6 * np.maximum(1.0, ln))
    assert M.tt_logf(np.float32(1.0)) == 0.0
    with pytest.raises(ValueError, match="z >= 1"):
        M.tt_logf(np.float32(0.5))


C_SOURCE = r"""
#include <stdio.h>
#include <stdint.h>
#include <string.h>
static float tt_expf(float x) {
  if (x < -87.0f) return 0.0f;
  if (x > 88.0f) x = 88.0f;
  int n = (int)(x * 1.44269504f + (x >= 0 ? 0.5f : -0.5f));
  float r = x - (float)n * 0.693145752f;
  r = r - (float)n * 1.42860677e-06f;
  float p = 1.38888889e-03f;
  p = p * r + 8.33333333e-03f; p = p * r + 4.16666667e-02f; p = p * r + 1.66666667e-01f;
  p = p * r + 0.5f; p = p * r + 1.0f; p = p * r + 1.0f;
  uint32_t b = (uint32_t)(n + 127) << 23; float s; memcpy(&s, &b, 4);
  return p * s;
}
static float tt_logf(float z) {
  uint32_t b; memcpy(&b, &z, 4);
  int k = (int)(b >> 23) - 127;
  uint32_t fb = (b & 0x7FFFFFu) | (127u << 23); float f; memcpy(&f, &fb, 4);
  float t = (f - 1.0f) / (f + 1.0f), t2 = t * t, p = t2 / 9.0f;
  p = (1.0f / 7.0f) + p; p = t2 * p; p = (1.0f / 5.0f) + p; p = t2 * p;
  p = (1.0f / 3.0f) + p; p = t2 * p; p = 1.0f + p;
  return (2.0f * t) * p + (float)k * 0.693147181f;
}
int main(void) {
  char op; float x;
  while (scanf(" %c %a", &op, &x) == 2) {
    float y = op == 'e' ? tt_expf(x) : tt_logf(x); uint32_t b; memcpy(&b, &y, 4);
    printf("%08x\n", b);
  }
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler")
def test_exp_and_log_are_bit_exact_with_the_c_spec(tmp_path):
    # The spec's C lines, built with -ffp-contract=off, give the same float32 bits.
    (tmp_path / "t.c").write_text(C_SOURCE)
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-O2", "-ffp-contract=off", "-o", str(exe), str(tmp_path / "t.c")], check=True)
    rng = np.random.default_rng(0)
    xe = np.concatenate([rng.uniform(-90, 90, 3000), rng.uniform(-2, 2, 3000),
                         [0, -87, -87.0001, 88, 89, 1e-8, -1e-8, 0.5, -0.5]]).astype(np.float32)
    xl = np.concatenate([np.exp(rng.uniform(0, 20, 3000)), [1, 2, 3, 1.5, 1e30]]).astype(np.float32)
    text = "".join(f"e {float(v).hex()}\n" for v in xe) + "".join(f"l {float(v).hex()}\n" for v in xl)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout.split()
    c_bits = np.array([int(h, 16) for h in out], dtype=np.uint32)
    py_bits = np.concatenate([M.tt_expf(xe).view(np.uint32), M.tt_logf(xl).view(np.uint32)])
    assert np.array_equal(c_bits, py_bits)


def test_softmax_xent_small_case():
    # logits (0, ln 3): m = ln 3, e = (1/3, 1), Z = 4/3; for label 0 the loss is
    # log(4/3) - (0 - ln 3) = log 4, and p = (1/4, 3/4) gives dlogits = (1/4 - 1, 3/4).
    loss, d = M.softmax_xent(np.array([0.0, np.log(3.0)], np.float32), 0)
    assert abs(float(loss) - np.log(4.0)) < 1e-6
    np.testing.assert_allclose(d, [-0.75, 0.75], atol=1e-6)
    assert d.dtype == np.float32


@pytest.mark.parametrize("v,expected", [
    (0.5, 1.0), (-0.5, -1.0), (1.5, 2.0), (-2.5, -3.0), (2.4, 2.0), (-2.6, -3.0),
    (0.49999997, 1.0), (-0.49999997, -1.0)])
def test_round_nearest_is_half_away_from_zero(v, expected):
    # The spec's (int)(v + 0.5f): 0.49999997f + 0.5f rounds to 1.0f in float32, so the largest
    # float below 0.5 rounds up, as in C; kept because the device computes exactly this.
    assert M.round_nearest(np.float32(v)) == np.float32(expected)


def test_xorshift32_first_values_for_the_default_seed():
    # By hand from s = 0x2545F491:
    #   s ^= s << 13: 0x2545F491 ^ 0xBE922000 = 0x9BD7D491
    #   s ^= s >> 17: 0x9BD7D491 ^ 0x00004DEB = 0x9BD7997A
    #   s ^= s << 5:  0x9BD7997A ^ 0x7AF32F40 = 0xE124B63A
    # and twice more the same way: 0x8B9A74AB, 0x64E1B3AC.
    rng = M.Xorshift32()
    assert [rng.next() for _ in range(3)] == [0xE124B63A, 0x8B9A74AB, 0x64E1B3AC]
    # u = (s >> 8) * 2^-24: 0xE124B6 / 2^24 = 14754998 / 16777216
    assert M.uniform24(np.array([0xE124B63A], np.uint32))[0] == np.float32(14754998 / 16777216)


def test_xorshift32_batched_draws_equal_the_plain_stream():
    a, b = M.Xorshift32(7), M.Xorshift32(7)
    plain = [a.next() for _ in range(5000)]
    batched = np.concatenate([b.draw(3), b.draw(2000), b.draw(2997)])
    assert batched.tolist() == plain
    assert a.state == b.state
    with pytest.raises(ValueError):
        M.Xorshift32(0)


def test_stochastic_rounding_uses_one_draw_per_element_in_order():
    rng, ref = M.Xorshift32(), M.Xorshift32()
    v = np.array([[0.25, -0.25], [3.0, 7.75]], np.float32)
    out = M.round_stochastic(v, rng.draw(v.size))
    u = [(ref.next() >> 8) * 2.0 ** -24 for _ in range(4)]
    assert out.ravel().tolist() == [float(np.floor(np.float32(x) + np.float32(t)))
                                    for x, t in zip(v.ravel(), u)]


def test_fnv1a32_known_vectors():
    # Published FNV-1a 32 test vectors: "" -> 0x811C9DC5, "a" -> 0xE40C292C, "foobar" -> 0xBF9CF968.
    assert M.fnv1a32(b"") == 0x811C9DC5
    assert M.fnv1a32(b"a") == 0xE40C292C
    assert M.fnv1a32(b"foobar") == 0xBF9CF968
    assert M.fnv1a32(b"bar", M.fnv1a32(b"foo")) == 0xBF9CF968  # chaining = concatenation
