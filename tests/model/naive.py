"""A naive float64 convolution: the independent oracle of the conv tests."""
import numpy as np


def naive_conv(x, w, b, op):
    """Direct loops over output positions and channels; x (N, H, W, C), w OHWI, any groups."""
    n, h, wd, _ = x.shape
    p, k, s = op.padding, op.kernel, op.stride
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    ho, wo = op.out_hw(h, wd)
    cig, cog = op.in_ch // op.groups, op.out_ch // op.groups
    out = np.zeros((n, ho, wo, op.out_ch))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * s:i * s + k, j * s:j * s + k, :]
            for c in range(op.out_ch):
                g = c // cog
                out[:, i, j, c] = np.sum(patch[..., g * cig:(g + 1) * cig] * w[c], axis=(1, 2, 3)) + b[c]
    return out
