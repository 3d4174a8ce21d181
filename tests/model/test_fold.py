"""BN folding preserves the float (eval-mode) output."""
import numpy as np

from harness.model import fold, train, zoo


def test_fold_preserves_float_output():
    g = zoo.small_cnn((16, 16, 2), 4, width=8)
    rng = np.random.default_rng(0)
    p = train.init_params(g, 0)
    for k in p:  # non-trivial BN statistics and affine parameters
        if k.endswith("bn_mean") or k.endswith("bn_beta") or k.endswith(".bias"):
            p[k] = rng.normal(0, 0.3, p[k].shape).astype(np.float32)
        elif k.endswith("bn_var") or k.endswith("bn_gamma"):
            p[k] = rng.uniform(0.2, 2.0, p[k].shape).astype(np.float32)
    x = rng.random((8, 16, 16, 2), dtype=np.float32)
    fg, fp = fold.fold_bn(g, p)
    assert fold.is_folded(fg) and not fold.is_folded(g)
    assert set(fp) == {k for k in p if "bn_" not in k}
    want = train.forward_float(g, p, x).tensors
    got = train.forward_float(fg, fp, x).tensors
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)
