"""Model builders: the paper's backbone figures (paper-facts.md §Models) and the small net."""
import numpy as np
import pytest

from harness.model import stats, zoo
from harness.model.graph import Add, Conv


def test_mbv2_w035_matches_the_paper():
    g = zoo.mobilenet_v2(width=0.35, input_size=128, num_classes=1000)
    s = stats.model_stats(g)
    # paper §3.1: backbone 17M MACs, 0.25M params; asserted within 15%
    assert abs(s.backbone_macs - 17e6) / 17e6 < 0.15
    assert abs(s.backbone_params - 0.25e6) / 0.25e6 < 0.15
    # the layout of the paper's own int8 model (paper-facts.md): 51 convs, last channel 112,
    # 244,448 params and 16.65M MACs with BN folded
    assert len(g.convs()) == 51
    assert g.convs()[-1].out_ch == 112
    assert s.backbone_params == 244_448
    assert s.backbone_macs == 16_646_912


def test_mbv2_final_conv_alternative():
    s = stats.model_stats(zoo.mobilenet_v2(0.35, 128, last_channel=1280))
    assert (s.backbone_params, round(s.backbone_macs / 1e4)) == (389_088, 1894)  # 18.94M


@pytest.mark.parametrize("builder, macs, params", [
    (zoo.proxyless_like, 19e6, 0.33e6),   # paper: ProxylessNAS-w0.3
    (zoo.mcunet_like, 23e6, 0.48e6),      # paper: MCUNet-5FPS
])
def test_like_variants_are_of_the_papers_size(builder, macs, params):
    s = stats.model_stats(builder(input_size=128))
    assert abs(s.backbone_macs - macs) / macs < 0.15
    assert abs(s.backbone_params - params) / params < 0.15


def test_mcunet_like_has_42_convs_with_pw1_at_the_paper_indices():
    convs = zoo.mcunet_like().convs()
    assert len(convs) == 42
    # the paper's 100KB MCUNet scheme updates pw1 weights at these indices
    assert all(convs[i].name.endswith("_pw1") for i in (21, 24, 27, 30, 36, 39))


@pytest.mark.parametrize("width, size, classes", [(1.0, 224, 1000), (0.5, 96, 10), (0.35, 64, 2)])
def test_mbv2_any_width_and_size(width, size, classes):
    g = zoo.mobilenet_v2(width, size, classes)
    shapes = g.shapes()
    assert shapes[g.output] == (classes,)
    assert all(c.out_ch % 8 == 0 for c in g.convs())
    assert all(c.bn for c in g.convs())


def test_small_cnn():
    g = zoo.small_cnn((28, 28, 1), 5)
    s = stats.model_stats(g)
    assert 5_000 <= s.total_params <= 30_000
    kinds = {c.kind for c in g.convs()}
    assert kinds == {"conv", "depthwise", "pointwise"}
    assert sum(isinstance(op, Add) for op in g.ops) == 1
    assert g.convs()[0].stride == 2
    # every activation is small in int8 (the on-device training must fit in ~256 KiB)
    assert max(int(np.prod(v)) for v in g.shapes().values()) <= 8 * 1024
    assert zoo.small_cnn((32, 32, 3), 10).shapes()["fc"] == (10,)


def test_make_divisible_and_names():
    assert [zoo.make_divisible(v) for v in (11.2, 5.6, 33.6, 56, 112)] == [16, 8, 32, 56, 112]
    g = zoo.build("mbv2", width=0.35, input_size=128)
    assert g.convs()[0].name == "stem" and isinstance(g.ops[-1].__class__, type)
    with pytest.raises(ValueError, match="unknown model"):
        zoo.build("resnet")


def test_stats_table_prints_totals():
    s = stats.model_stats(zoo.small_cnn((28, 28, 1), 5))
    text = s.table()
    assert "backbone" in text and f"{s.total_params:,}" in text
    assert s.total_params - s.backbone_params == 64 * 5 + 5
    assert isinstance(s.layers[0].kind, str) and s.layers[0].kind == "conv"
    assert isinstance(zoo.small_cnn().ops[0], Conv)
