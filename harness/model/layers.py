"""Models as a list of layers: the ``model.layers`` syntax of scenario files, and the one
builder from a layer list to a ``Graph`` (the zoo's builders go through it too).

A layer is a mapping whose first key names its kind and holds its main argument, or a bare
word for the layers that take none::

    - {conv: 6, kernel: 5, padding: same, act: relu}   # filters; kernel, stride, padding, act, bn
    - {depthwise: 3, stride: 2, act: relu6}            # kernel; stride, padding, act, bn
    - {maxpool: 2}                                     # size; stride (default: the size), padding
    - {avgpool: [2, 3], stride: 1}
    - flatten                                          # (H, W, C) -> H*W*C, in HWC order
    - global_avgpool                                   # (H, W, C) -> C, the mean
    - {dense: 64, act: relu}                           # units; act
    - {add: block1, act: relu}                         # adds layer block1's output to the current one
    - {dense: classes}                                 # the classifier: one unit per class

Every layer may carry ``name:`` (default: ``<kind><n>``, n counting layers of that kind from
1: conv1, dw1, maxpool1, flatten1, gap1, fc1, add1); ``add:`` refers to a name (or ``input``).
Sizes (``kernel``, ``stride``, pool size) are an int or [height, width]; ``padding`` is
``valid`` (none, the default), ``same`` (TFLite's SAME: output ceil(in / stride), the odd
padding row or column at the bottom / right), an int (that many zeros on every side) or
[top, bottom, left, right]. ``act`` is none (default), relu or relu6; ``bn: true`` puts a
BatchNorm after a conv or depthwise for float pretraining (folded before quantization). The
last layer must be the classifier: a dense layer without activation, usually ``{dense: classes}``.

``parse_layers`` checks the syntax (each error names the layer's line); ``build_graph`` checks
the shapes for an input and a class count and returns the ``Graph``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import MctError
from .graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Op, Pool, Window

KINDS = ("conv", "depthwise", "dense", "maxpool", "avgpool", "flatten", "global_avgpool", "add")
BARE = ("flatten", "global_avgpool")  # kinds written as a bare word
ACTS = ("none", "relu", "relu6")
# The keys each kind takes besides its own and ``name``.
OPTIONS: dict[str, tuple[str, ...]] = {
    "conv": ("kernel", "stride", "padding", "act", "bn"),
    "depthwise": ("stride", "padding", "act", "bn"),
    "dense": ("act",),
    "maxpool": ("stride", "padding"),
    "avgpool": ("stride", "padding"),
    "flatten": (),
    "global_avgpool": (),
    "add": ("act",),
}
DEFAULT_PREFIX = {"conv": "conv", "depthwise": "dw", "dense": "fc", "maxpool": "maxpool",
                  "avgpool": "avgpool", "flatten": "flatten", "global_avgpool": "gap", "add": "add"}
CLASSES = "classes"  # dense: classes, the dataset's class count
MAX_LAYERS = 512
MAX_SIZE = 4096  # filters, units, kernel, stride, padding
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

Padding = str | int | tuple[int, int, int, int]  # "same" | "valid" | n | (top, bottom, left, right)


class LayerError(MctError, ValueError):
    """A layer list that cannot be a model; ``line`` is the bad layer's line (0: unknown).

    It is a ValueError too: callers that treat a bad model description as a bad value (the
    zoo's builders, ``Graph.shapes``) keep working."""

    def __init__(self, line: int, message: str, fix: str):
        self.line = line
        super().__init__(message, fix)


@dataclass(frozen=True)
class Layer:
    """One layer as written. ``size`` is the kernel of conv / depthwise and the window of a
    pool; ``stride`` None means 1 (conv, depthwise) or the window (pools); ``units`` None is
    the class count; ``ref`` is the layer an add reads; ``line`` where it was written."""

    kind: str
    name: str | None = None
    filters: int = 0
    units: int | None = None
    size: tuple[int, int] = (1, 1)
    stride: tuple[int, int] | None = None
    padding: Padding = "valid"
    act: str = "none"
    bn: bool = False
    ref: str = ""
    line: int = 0


# --- parsing --------------------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _show(v: Any) -> str:
    from ..yamlsrc import quote

    return quote(v, 80)


def _count(v: Any, what: str) -> int:
    if not _is_int(v) or not 1 <= v <= MAX_SIZE:
        raise ValueError(f"{what} must be a whole number in 1..{MAX_SIZE}, got {_show(v)}")
    return v


def _pair(v: Any, what: str) -> tuple[int, int]:
    if _is_int(v):
        n = _count(v, what)
        return (n, n)
    if isinstance(v, list) and len(v) == 2:
        return (_count(v[0], what), _count(v[1], what))
    raise ValueError(f"{what} must be an int or [height, width], got {_show(v)}")


def _padding(v: Any) -> Padding:
    if v in ("same", "valid"):
        return v
    if _is_int(v) and 0 <= v <= MAX_SIZE:
        return v
    if isinstance(v, list) and len(v) == 4 and all(_is_int(p) and 0 <= p <= MAX_SIZE for p in v):
        return (v[0], v[1], v[2], v[3])
    raise ValueError(f"padding must be same, valid, a number of zeros >= 0 or [top, bottom, left, "
                     f"right], got {_show(v)}")


def _act(v: Any) -> str:
    if v is None or v is False:  # YAML reads a bare `none` as a string, `null` / `~` as None
        return "none"
    if v not in ACTS:
        raise ValueError(f"act must be one of {', '.join(ACTS)}, got {_show(v)}")
    return v


def _name(v: Any) -> str:
    if not isinstance(v, str) or not _NAME.fullmatch(v) or v == "input":
        raise ValueError(f"name must be a word of letters, digits and _ (starting with a letter or _, "
                         f"at most 64 characters, not 'input'), got {_show(v)}")
    return v


def _line_of(container: Any, index: int, default: int) -> int:
    line_of = getattr(container, "line_of", None)
    return line_of(index) if line_of is not None else default


def parse_layer(raw: Any, line: int = 0, last: bool = False) -> Layer:
    """One layer from its YAML value; ``LayerError`` at ``line`` (or the bad key's line)."""
    example = "e.g. {conv: 8, kernel: 3, act: relu}, {maxpool: 2}, flatten or {dense: classes}"
    if isinstance(raw, str):
        if raw in BARE:
            return Layer(kind=raw, line=line)
        if raw in KINDS:
            raise LayerError(line, f"layer {_show(raw)} needs its argument",
                             f"write it as a mapping, {_example(raw)}")
        raise LayerError(line, f"unknown layer {_show(raw)}", f"{_did_you_mean(raw)}a layer is one of "
                         f"{', '.join(KINDS)}: {example}")
    if not isinstance(raw, dict) or not raw:
        raise LayerError(line, f"a layer must be a mapping or a bare word, got {_show(raw)}",
                         f"write one layer per list item, {example}")
    line = getattr(raw, "line", 0) or line
    kinds = [k for k in raw if k in KINDS]
    if len(kinds) != 1:
        what = f"two kinds ({', '.join(map(str, kinds[:2]))})" if kinds else "no kind"
        first = next(iter(raw))
        hint = _did_you_mean(first) if isinstance(first, str) else ""
        raise LayerError(line, f"layer {_show(raw)} has {what}",
                         f"{hint}start each layer with exactly one of {', '.join(KINDS)}: {example}")
    kind = kinds[0]
    allowed = (kind, "name", *OPTIONS[kind])
    key_line = getattr(raw, "line_of", lambda _k: line)
    for key in raw:
        if key not in allowed:
            raise LayerError(key_line(key), f"{kind} layer: unknown key {_show(key)}",
                             f"{_did_you_mean(key, allowed)}a {kind} layer takes "
                             f"{', '.join(allowed)}")
    fields: dict[str, Any] = {"kind": kind, "line": line}
    try:
        current = kind
        value = raw[kind]
        if kind == "conv":
            fields["filters"] = _count(value, "conv (the number of filters)")
        elif kind == "depthwise":
            fields["size"] = _pair(value, "depthwise (the kernel)")
        elif kind == "dense":
            if value == CLASSES:
                fields["units"] = None
            else:
                fields["units"] = _count(value, "dense (the number of units, or classes)")
        elif kind in ("maxpool", "avgpool"):
            fields["size"] = _pair(value, f"{kind} (the window)")
        elif kind == "add":
            if not isinstance(value, str) or not (value == "input" or _NAME.fullmatch(value)):
                raise ValueError(f"add names the earlier layer whose output it adds (or input), "
                                 f"got {_show(value)}")
            fields["ref"] = value
        elif value is not None and value is not True:
            raise ValueError(f"{kind} takes no argument: write it as a bare word or "
                             f"{{{kind}: true, name: ...}}, got {_show(value)}")
        for key in raw:
            if key == kind:
                continue
            current = key
            v = raw[key]
            if key == "name":
                fields["name"] = _name(v)
            elif key == "kernel":
                fields["size"] = _pair(v, "kernel")
            elif key == "stride":
                fields["stride"] = _pair(v, "stride")
            elif key == "padding":
                fields["padding"] = _padding(v)
            elif key == "act":
                fields["act"] = _act(v)
            elif key == "bn":
                if not isinstance(v, bool):
                    raise ValueError(f"bn must be true or false, got {_show(v)}")
                fields["bn"] = v
    except ValueError as e:
        raise LayerError(key_line(current), f"{kind} layer: {e}",
                         f"{_example(kind)} (scenarios/README.md, 'Models as a list of layers')") from None
    if kind == "conv" and "kernel" not in raw:
        raise LayerError(line, "conv layer: no kernel", "add kernel: 3 (or [height, width]); "
                         "a pointwise conv is kernel: 1")
    layer = Layer(**fields)
    if layer.units is None and kind == "dense" and not last:
        raise LayerError(line, "dense: classes is the classifier and must be the last layer",
                         "give a hidden dense layer its number of units, e.g. {dense: 64, act: relu}")
    return layer


def _example(kind: str) -> str:
    return {"conv": "e.g. {conv: 16, kernel: 3, stride: 1, padding: same, act: relu, bn: false}",
            "depthwise": "e.g. {depthwise: 3, stride: 2, padding: same, act: relu6}",
            "dense": "e.g. {dense: 64, act: relu} or {dense: classes}",
            "maxpool": "e.g. {maxpool: 2} or {maxpool: [3, 3], stride: 2, padding: same}",
            "avgpool": "e.g. {avgpool: 2} or {avgpool: [3, 3], stride: 1, padding: same}",
            "flatten": "e.g. flatten", "global_avgpool": "e.g. global_avgpool",
            "add": "e.g. {add: block1, act: relu}"}[kind]


def _did_you_mean(word: Any, known: Sequence[str] = KINDS) -> str:
    import difflib

    if not isinstance(word, str) or len(word) > 100:
        return ""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def parse_layers(raw: Any, line: int = 0) -> tuple[Layer, ...]:
    """A layer list from YAML (a ``LineList`` gives each layer its own line)."""
    if not isinstance(raw, list) or not raw:
        raise LayerError(line, f"model.layers must be a non-empty list of layers, got {_show(raw)}",
                         "write one layer per '- ' line, ending with {dense: classes}")
    if len(raw) > MAX_LAYERS:
        raise LayerError(line, f"model.layers has {len(raw)} layers, more than {MAX_LAYERS}",
                         "a microcontroller model has tens of layers")
    line = getattr(raw, "line", 0) or line
    return tuple(parse_layer(item, _line_of(raw, i, line), last=i == len(raw) - 1)
                 for i, item in enumerate(raw))


def to_plain(layers: Sequence[Layer]) -> list[Any]:
    """The layers as plain JSON data in the YAML syntax (``parse_layers`` reads it back)."""
    out: list[Any] = []
    for layer in layers:
        if layer.kind in BARE and layer.name is None:
            out.append(layer.kind)
            continue
        main: Any = {"conv": layer.filters, "depthwise": list(layer.size),
                     "dense": CLASSES if layer.units is None else layer.units,
                     "maxpool": list(layer.size), "avgpool": list(layer.size),
                     "flatten": True, "global_avgpool": True, "add": layer.ref}[layer.kind]
        d: dict[str, Any] = {layer.kind: main}
        if layer.name is not None:
            d["name"] = layer.name
        if layer.kind == "conv":
            d["kernel"] = list(layer.size)
        if layer.stride is not None:
            d["stride"] = list(layer.stride)
        if layer.kind in ("conv", "depthwise", "maxpool", "avgpool") and layer.padding != "valid":
            d["padding"] = list(layer.padding) if isinstance(layer.padding, tuple) else layer.padding
        if layer.act != "none":
            d["act"] = layer.act
        if layer.bn:
            d["bn"] = True
        out.append(d)
    return out


# --- building -------------------------------------------------------------------------------

def same_pads(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int]
              ) -> tuple[int, int, int, int]:
    """TFLite's SAME padding: the output is ceil(in / stride); the odd row / column goes last."""
    out: list[int] = []
    for n, k, s in ((h, kernel[0], stride[0]), (w, kernel[1], stride[1])):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        out += [total // 2, total - total // 2]
    return (out[0], out[1], out[2], out[3])


def _window(layer: Layer, h: int, w: int, pool: bool) -> Window:
    kh, kw = layer.size
    sh, sw = layer.stride if layer.stride is not None else (layer.size if pool else (1, 1))
    if layer.padding == "same":
        pads = same_pads(h, w, (kh, kw), (sh, sw))
    elif layer.padding == "valid":
        pads = (0, 0, 0, 0)
    elif isinstance(layer.padding, int):
        pads = (layer.padding,) * 4
    else:
        pads = layer.padding  # type: ignore[assignment]
    return Window(kh, kw, sh, sw, *pads)


def _window_fields(win: Window) -> dict[str, Any]:
    """The Conv / Pool fields of a window: square and symmetric ones in the short form."""
    symmetric = win.pt == win.pb == win.pl == win.pr
    return {"kernel": win.kh, "stride": win.sh, "padding": win.pt if symmetric else 0,
            "kernel_w": win.kw if win.kw != win.kh else 0,
            "stride_w": win.sw if win.sw != win.sh else 0,
            "pads": None if symmetric else (win.pt, win.pb, win.pl, win.pr)}


def build_graph(layers: Sequence[Layer], input_shape: tuple[int, int, int], num_classes: int,
                name: str = "layers") -> Graph:
    """The ``Graph`` of a layer list for an (H, W, C) input and ``num_classes`` classes.

    Each layer's output tensor is named after the layer. ``LayerError`` names the layer (and
    its line) whose input it cannot take."""
    if not layers:
        raise LayerError(0, "the layer list is empty", "give at least the classifier, {dense: classes}")
    ops: list[Op] = []
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
    counts: dict[str, int] = {}
    cur = "input"
    for i, layer in enumerate(layers):
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        lname = layer.name or f"{DEFAULT_PREFIX[layer.kind]}{counts[layer.kind]}"
        where = f"layer {i + 1} ({lname})"

        def bad(message: str, fix: str) -> LayerError:
            return LayerError(layer.line, f"{where}: {message}", fix)

        if lname in shapes:
            raise bad(f"the name {lname!r} is already taken by an earlier layer" if lname != "input"
                      else "the name 'input' is the model's input", "give each layer its own name")
        shape = shapes[cur]
        is_map = len(shape) == 3
        op: Op
        if layer.kind in ("conv", "depthwise", "maxpool", "avgpool", "flatten", "global_avgpool") \
                and not is_map:
            raise bad(f"a {layer.kind} layer needs a feature map (H, W, C), but its input "
                      f"{cur!r} is a vector of {shape[0]}",
                      "put it before the flatten / global_avgpool, or remove it")
        if layer.kind in ("conv", "depthwise", "maxpool", "avgpool"):
            h, w, c = shape
            win = _window(layer, h, w, pool=layer.kind in ("maxpool", "avgpool"))
            if max(win.pt, win.pb) >= win.kh or max(win.pl, win.pr) >= win.kw:
                raise bad(f"padding {win.pt, win.pb, win.pl, win.pr} is not smaller than the "
                          f"{win.kh}x{win.kw} window: a window would see padding only",
                          "use padding: same, or less padding than the kernel")
            oh, ow = win.out_hw(h, w)
            if oh < 1 or ow < 1:
                raise bad(f"its {h}x{w} input is too small for a {win.kh}x{win.kw} window "
                          f"with padding {win.pt, win.pb, win.pl, win.pr}",
                          "use padding: same, a smaller kernel, or fewer downsampling layers before it")
            if layer.kind in ("conv", "depthwise"):
                out_ch = layer.filters if layer.kind == "conv" else c
                op = Conv(name=lname, input=cur, output=lname, in_ch=c, out_ch=out_ch,
                          groups=c if layer.kind == "depthwise" else 1,
                          relu6=layer.act == "relu6", relu=layer.act == "relu", bn=layer.bn,
                          **_window_fields(win))
            else:
                op = Pool(name=lname, input=cur, output=lname,
                          mode="max" if layer.kind == "maxpool" else "avg", **_window_fields(win))
            shapes[lname] = (oh, ow, out_ch if layer.kind in ("conv", "depthwise") else c)
        elif layer.kind == "flatten":
            op = Flatten(name=lname, input=cur, output=lname)
            shapes[lname] = (shape[0] * shape[1] * shape[2],)
        elif layer.kind == "global_avgpool":
            op = GlobalAvgPool(name=lname, input=cur, output=lname)
            shapes[lname] = (shape[2],)
        elif layer.kind == "dense":
            if is_map:
                raise bad(f"a dense layer needs a vector, but its input {cur!r} is a "
                          f"{'x'.join(map(str, shape))} feature map",
                          "put flatten or global_avgpool before it")
            units = num_classes if layer.units is None else layer.units
            op = Linear(name=lname, input=cur, output=lname, in_features=shape[0],
                        out_features=units, relu=layer.act == "relu", relu6=layer.act == "relu6")
            shapes[lname] = (units,)
        elif layer.kind == "add":
            if layer.ref not in shapes:
                earlier = [t for t in shapes if t != cur]
                raise bad(f"add: no earlier layer is named {layer.ref!r}",
                          f"name one of: {', '.join(earlier) or 'input'} (layers may carry name:)")
            if layer.ref == cur:
                raise bad(f"add: {layer.ref!r} is the current tensor itself",
                          "add the output of an earlier layer, e.g. a block's input")
            if shapes[layer.ref] != shape:
                raise bad(f"add: cannot add {layer.ref!r} ({'x'.join(map(str, shapes[layer.ref]))}) "
                          f"to {cur!r} ({'x'.join(map(str, shape))})",
                          "add tensors of the same shape: same spatial size and channels")
            op = Add(name=lname, inputs=(layer.ref, cur), output=lname,
                     relu=layer.act == "relu", relu6=layer.act == "relu6")
            shapes[lname] = shape
        else:  # pragma: no cover - kinds are checked when parsing
            raise bad(f"unknown kind {layer.kind!r}", f"use one of {', '.join(KINDS)}")
        ops.append(op)
        cur = lname
    last = layers[-1]
    if last.kind != "dense" or last.act != "none":
        raise LayerError(last.line, f"the last layer must be the classifier, a dense layer without "
                         f"activation; it is {'a ' + last.kind if last.kind != 'dense' else 'dense with act ' + last.act}",
                         "end the list with {dense: classes} (after flatten or global_avgpool)")
    return Graph(name=name, input_shape=tuple(input_shape), ops=tuple(ops))  # type: ignore[arg-type]
