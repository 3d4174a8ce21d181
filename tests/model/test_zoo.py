"""Model builders: the paper's three models layer by layer (paper-models.md), their backbone
figures (paper-facts.md §Models), and the small net."""
import re
from pathlib import Path

import numpy as np
import pytest

from harness.model import stats, zoo
from harness.model.graph import Add, Conv, GlobalAvgPool, Graph


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


LAYOUTS = Path(__file__).with_name("paper_layouts.txt")
_CONV = re.compile(r"(conv|dw)(\d)x\d s(\d) (\d+)->(\d+) @(\d+)->(\d+)")


def paper_layouts() -> dict[str, tuple[list[str], dict[str, str]]]:
    """The paper's layer tables (tests/model/paper_layouts.txt): per model, its block lines and
    the totals line's figures."""
    out: dict[str, tuple[list[str], dict[str, str]]] = {}
    name = ""
    for line in LAYOUTS.read_text().splitlines():
        if line.startswith("== "):
            name = line[3:]
            out[name] = ([], {})
        elif line.startswith("Totals"):
            out[name][1].update(re.findall(r"(convs|MACs|params) (\S+?)\.?(?= |$)", line))
        elif line and not line.startswith("#"):
            out[name][0].append(line)
    return out


def describe(g: Graph) -> list[str]:
    """The graph in the table's notation: one line per block (and the stem)."""
    shapes = g.shapes()
    lines: dict[str, list[str]] = {}
    residual: set[str] = set()
    for op in g.ops:
        if isinstance(op, Add):
            residual.add(op.name.split("_")[0])
        if not isinstance(op, Conv):
            continue
        block = "first" if op.name == "stem" else op.name.split("_")[0]
        kind = "dw" if op.kind == "depthwise" else "conv"
        lines.setdefault(block, []).append(
            f"{kind}{op.kernel}x{op.kernel} s{op.stride} {op.in_ch}->{op.out_ch} "
            f"@{shapes[op.input][0]}->{shapes[op.output][0]}")
    return [f"{b}: " + " | ".join(convs) + (" res" if b in residual else "")
            for b, convs in lines.items()]


EXACT = [("mbv2-w0.35", lambda: zoo.mobilenet_v2(0.35, 128), 51, "16.65M", 16_646_912, 244_448),
         ("proxyless-w0.3", lambda: zoo.proxyless(input_size=128), 60, "18.62M", 18_619_904, 326_232),
         ("mcunet-5fps", lambda: zoo.mcunet(input_size=128), 42, "22.45M", 22_453_504, 469_224)]


@pytest.mark.parametrize("name, builder, convs, macs_text, macs, params", EXACT, ids=[e[0] for e in EXACT])
def test_the_papers_three_models_exactly(name, builder, convs, macs_text, macs, params):
    g = builder()
    assert g.name == name
    blocks, totals = paper_layouts()[name]
    # layer by layer: kernel, stride, channels, spatial sizes and residual adds
    assert describe(g) == blocks
    s = stats.model_stats(g)
    assert len(g.convs()) == convs == int(totals["convs"])
    assert (s.backbone_macs, s.backbone_params) == (macs, params)
    assert f"{s.backbone_macs / 1e6:.2f}M" == macs_text == totals["MACs"]
    assert s.backbone_params == int(totals["params"])
    # no 1x1 conv after the last block: its output goes straight into GAP and the classifier
    assert isinstance(g.ops[-2], GlobalAvgPool) and g.ops[-2].input == g.convs()[-1].output
    assert g.shapes()[g.output] == (1000,)


def test_paper_layouts_file_has_the_three_models():
    assert sorted(paper_layouts()) == ["mbv2-w0.35", "mcunet-5fps", "proxyless-w0.3"]


@pytest.mark.parametrize("arch, ok, bad", [("proxyless", 0.3, 0.35), ("mcunet", 1.0, 0.5)])
def test_exact_models_take_only_the_papers_width(arch, ok, bad):
    assert zoo.build(arch, width=ok).name == zoo.build(arch).name
    with pytest.raises(ValueError, match=f"defined only at width {ok:g}.*omit the width"):
        zoo.build(arch, width=bad)


def test_exact_models_at_other_inputs_and_classes():
    for builder in (zoo.proxyless, zoo.mcunet):
        g = builder(input_size=64, num_classes=10)
        assert g.shapes()[g.output] == (10,)
        assert g.shapes()[g.convs()[-1].output][:2] == (2, 2)


def test_mcunet_pw1_at_the_papers_weight_indices():
    convs = zoo.mcunet().convs()
    # the paper's 100KB MCUNet scheme updates pw1 weights at these indices (paper-facts.md §1)
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
