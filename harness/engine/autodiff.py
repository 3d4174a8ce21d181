"""Compile-time autodiff: the full training program of a QModel, every parameter trainable.

The forward pass is the graph's op order; the backward pass walks it in reverse and, per
layer, emits the steps of docs/arithmetic.md §7 in their fixed order (mask, bias update,
weight update, input gradient). A tensor read by two ops gets its gradient from both:
the first contribution is its gradient buffer, later ones are added into it. Pruning for a
sparse scheme is a separate pass (``prune.py``).

Flatten has no step: its output names the same arena buffer as its input (``aliases``), so the
memory plan shares the bytes instead of copying them, and its gradient is its input's. A max
pool's backward reads the pool's int8 input (it finds the max tap again), which therefore
stays live until then; a hidden int8 Linear is trained in full like the classifier and reads
its input the same way.
"""
from __future__ import annotations

from ..errors import ScenarioError
from ..model.qmodel import QAdd, QAvgPool, QConv, QFlatten, QLinear, QLinearFloat, QModel, QPool
from .program import INPUT, Buffer, Program, Step


def aliases(qmodel: QModel) -> dict[str, str]:
    """Tensor -> the tensor whose buffer holds it: a Flatten's output is its input's bytes."""
    out: dict[str, str] = {}
    for layer in qmodel.layers:
        if isinstance(layer, QFlatten):
            out[layer.op.output] = out.get(layer.op.input, layer.op.input)
    return out


def _full_range(layer: QAdd | QPool | QLinear) -> bool:
    return layer.act_min <= -128 and layer.act_max >= 127


def pool_reads_input(layer: QPool) -> bool:
    """Whether a pool's backward needs its int8 input: max finds its max tap, and a fused
    activation's mask is recomputed from the pooled value."""
    return layer.op.mode == "max" or not _full_range(layer)


def forward_program(qmodel: QModel, training: bool) -> tuple[list[Buffer], list[Step]]:
    """Forward steps; in training mode every conv also writes a mask and saves its input, and
    every add with an activation and hidden int8 Linear writes a mask."""
    g = qmodel.graph
    shapes = g.shapes()
    bufs: dict[str, Buffer] = {}
    steps: list[Step] = []
    alias = aliases(qmodel)

    def act(name: str, dtype: str = "i8", role: str = "activation") -> str:
        name = alias.get(name, name)
        if name != g.input and name not in bufs:
            bufs[name] = Buffer(name, dtype, tuple(shapes[name]), role)
        return INPUT if name == g.input else name

    for i, layer in enumerate(qmodel.layers):
        op = layer.op
        if isinstance(layer, QConv):
            x = act(op.input)
            y = act(op.output)
            writes = [y]
            if training:
                mask = f"mask{i}"
                bufs[mask] = Buffer(mask, "bits", tuple(shapes[op.output]), "mask")
                writes.append(mask)
                k = op.in_ch
                sl = f"slice{i}"
                h, w, _ = shapes[op.input]
                bufs[sl] = Buffer(sl, "i8", (h, w, k), "slice")
                steps.append(Step("save_slice", i, (x,), (sl,), k=k))
            steps.append(Step("conv", i, (x,), tuple(writes)))
        elif isinstance(layer, QAdd):
            a, b = (act(t) for t in op.inputs)
            writes = (act(op.output),)
            if training and op.act != "none":
                mask = f"mask{i}"
                bufs[mask] = Buffer(mask, "bits", tuple(shapes[op.output]), "mask")
                writes += (mask,)
            steps.append(Step("add", i, (a, b), writes))
        elif isinstance(layer, QPool):
            steps.append(Step("pool", i, (act(op.input),), (act(op.output),)))
        elif isinstance(layer, QFlatten):
            act(op.output)  # no step: the output is the input's buffer
        elif isinstance(layer, QLinear):
            last = i == len(qmodel.layers) - 1  # the int8 classifier: int8 logits, then float
            if last:
                y = f"{op.output}_q"
                bufs[y] = Buffer(y, "i8", tuple(shapes[op.output]), "activation")
            else:
                y = act(op.output)
            writes = (y,)
            if training:
                mask = f"mask{i}"
                bufs[mask] = Buffer(mask, "bits", tuple(shapes[op.output]), "mask")
                writes += (mask,)
            steps.append(Step("fc_s8", i, (act(op.input),), writes))
            if last:
                steps.append(Step("dequantize", i, (y,), (act(op.output, "f32", "logits"),)))
        elif isinstance(layer, QAvgPool):
            steps.append(Step("avgpool", i, (act(op.input),), (act(op.output),)))
        elif isinstance(layer, QLinearFloat):
            if i != len(qmodel.layers) - 1:
                raise ScenarioError(f"layer {op.name}: the classifier must be the last layer",
                                    "end the model with its fully connected layer")
            steps.append(Step("fc", i, (act(op.input),), (act(op.output, "f32", "logits"),)))
        else:  # pragma: no cover
            raise TypeError(layer)
    return list(bufs.values()), steps


def autodiff(qmodel: QModel) -> Program:
    """Forward, loss and the complete backward pass (all parameters trainable)."""
    g = qmodel.graph
    shapes = g.shapes()
    bufs_list, steps = forward_program(qmodel, training=True)
    bufs = {b.name: b for b in bufs_list}
    logits = qmodel.layers[-1].op.output
    bufs["g_logits"] = Buffer("g_logits", "f32", tuple(shapes[logits]), "gradient")
    steps.append(Step("loss", len(qmodel.layers) - 1, (logits,), ("g_logits",)))

    grad: dict[str, str] = {logits: "g_logits"}
    alias = aliases(qmodel)
    shared: set[str] = set()  # gradient buffers that stand for two tensors (after an add)
    counter = [0]

    def new_grad(tensor: str) -> str:
        counter[0] += 1
        name = f"g{counter[0]}_{tensor}"
        bufs[name] = Buffer(name, "f32", tuple(shapes[tensor]), "gradient")
        return name

    def contribute(i: int, tensor: str, gbuf: str) -> None:
        if tensor == g.input:
            return
        if tensor not in grad:
            grad[tensor] = gbuf
        else:
            steps.append(Step("grad_accum", i, (grad[tensor], gbuf), (grad[tensor],)))

    for i in reversed(range(len(qmodel.layers))):
        layer = qmodel.layers[i]
        op = layer.op
        out = op.output
        if out not in grad:
            continue  # nothing downstream depends on this tensor
        g_y = grad[out]
        if isinstance(layer, QLinearFloat):
            g_x = new_grad(op.input)
            steps.append(Step("fc_backward", i, ("g_logits", alias.get(op.input, op.input)), (g_x,)))
            contribute(i, op.input, g_x)
        elif isinstance(layer, QLinear):
            if g_y in shared:  # the kernel masks g_y in place
                raise ScenarioError(f"layer {op.name}: a fully connected layer whose output "
                                    "also feeds a residual add cannot be trained yet",
                                    "put a conv between the add and the fully connected layer")
            x = alias.get(op.input, op.input)
            writes: tuple[str, ...] = ()
            if op.input != g.input:
                writes = (new_grad(op.input),)
            steps.append(Step("fc_s8_backward", i, (g_y, x, f"mask{i}"), writes))
            if writes:
                contribute(i, op.input, writes[0])
        elif isinstance(layer, QPool):
            if op.input != g.input:
                g_x = new_grad(op.input)
                x = (alias.get(op.input, op.input),) if pool_reads_input(layer) else ()
                steps.append(Step("pool_grad", i, (g_y, *x), (g_x,)))
                contribute(i, op.input, g_x)
        elif isinstance(layer, QFlatten):
            contribute(i, op.input, g_y)  # the same bytes, the input's shape
        elif isinstance(layer, QAvgPool):
            g_x = new_grad(op.input)
            steps.append(Step("avgpool_grad", i, (g_y,), (g_x,)))
            contribute(i, op.input, g_x)
        elif isinstance(layer, QAdd):
            a, b = op.inputs
            if op.act != "none":  # the fused activation's mask, before the gradient splits
                g_a = new_grad(out) if g_y in shared else g_y
                steps.append(Step("mask", i, (g_y, f"mask{i}"), (g_a,)))
                g_y = g_a
            contribute(i, a, g_y)
            contribute(i, b, g_y)
            shared.add(g_y)
        elif isinstance(layer, QConv):
            if g_y in shared:  # the mask must not change the other tensor's gradient
                g_a = new_grad(out)
            else:
                g_a = g_y
            steps.append(Step("mask", i, (g_y, f"mask{i}"), (g_a,)))
            steps.append(Step("bias_update", i, (g_a,), ()))
            steps.append(Step("weight_update", i, (g_a, f"slice{i}"), (), k=op.in_ch))
            if op.input != g.input:
                g_x = new_grad(op.input)
                steps.append(Step("grad_input", i, (g_a,), (g_x,)))
                contribute(i, op.input, g_x)
    return Program(tuple(bufs.values()), tuple(steps))
