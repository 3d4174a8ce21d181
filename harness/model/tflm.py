"""The TFLite Micro oracle: run a .tflite model through TFLM's own Python interpreter, and the
two small model edits that make TFLM return the int8 logits our reference computes (a trailing
SOFTMAX/DEQUANTIZE removed; a leading float->int8 QUANTIZE removed)."""
from __future__ import annotations

import numpy as np

from ..errors import ToolMissing

_INSTALL_FIX = "pip install tflite-micro (bootstrap.sh installs it)"


def _schema():
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl
    except ImportError:
        raise ToolMissing("the TFLite Micro Python package (tflite_micro) is not installed",
                          _INSTALL_FIX) from None
    return tfl


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _arena_bytes(model: bytes) -> int:
    """An arena that holds every non-constant tensor at once (TFLM's planner needs at most that),
    plus room for persistent allocations and kernel scratch buffers."""
    tfl = _schema()
    m = tfl.ModelT.InitFromPackedBuf(model, 0)
    total = 0
    for sg in m.subgraphs:
        for t in sg.tensors:
            buf = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
            if buf is not None and buf.data is not None and len(buf.data):
                continue
            elems = int(np.prod([max(int(d), 1) for d in (t.shape if t.shape is not None else [])]))
            total += elems * 4 + 16
    return total + len(model) + 256 * 1024


def tflm_invoke(model: bytes, x: np.ndarray) -> np.ndarray:
    """Run the batch ``x`` (N, ...input shape without its batch axis) through TFLM one sample at
    a time; return the model's first output stacked (N, ...) in the output's own dtype."""
    _schema()
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=_arena_bytes(model))
    dtype = interp.get_input_details(0)["dtype"]
    outs = []
    for i in range(len(x)):
        interp.set_input(np.ascontiguousarray(x[i:i + 1]).astype(dtype, copy=False), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0))[0])
    return np.stack(outs)


def tflm_tensors(model: bytes, x: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
    """Run the batch ``x`` like ``tflm_invoke`` and return the tensors ``indices`` (subgraph 0)
    of every sample, stacked (N, ...tensor shape without its batch axis)."""
    _schema()
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(
        bytes(model), arena_size=_arena_bytes(model),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    dtype = interp.get_input_details(0)["dtype"]
    out: dict[int, list[np.ndarray]] = {i: [] for i in indices}
    for s in range(len(x)):
        interp.set_input(np.ascontiguousarray(x[s:s + 1]).astype(dtype, copy=False), 0)
        interp.invoke()
        for i in indices:
            data = np.array(interp.GetTensor(i, 0)["tensor_data"])
            out[i].append(data.reshape(data.shape[1:]) if data.shape[:1] == (1,) else data)
    return {i: np.stack(v) for i, v in out.items()}


def _op_name(tfl, m, op) -> str:
    code = m.operatorCodes[op.opcodeIndex]
    # builtinCode holds codes >= 127; deprecatedBuiltinCode the older ones (schema v3a)
    num = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    for name, value in vars(tfl.BuiltinOperator).items():
        if value == num and not name.startswith("_"):
            return name
    return f"BUILTIN_{num}"


def logits_model(model: bytes) -> bytes:
    """``model`` with a trailing SOFTMAX (and DEQUANTIZE after it) removed: the subgraph's output
    becomes the tensor that fed them (the classifier's int8 logits)."""
    tfl = _schema()
    m = tfl.ModelT.InitFromPackedBuf(bytes(model), 0)
    sg = m.subgraphs[0]
    while sg.operators:
        last = sg.operators[-1]
        if _op_name(tfl, m, last) not in ("SOFTMAX", "DEQUANTIZE"):
            break
        if list(sg.outputs) != [last.outputs[0]]:
            break
        sg.operators.pop()
        sg.outputs = [int(last.inputs[0])]
    return _pack(m)


def int8_input_model(model: bytes) -> bytes:
    """``model`` without a leading QUANTIZE from a float input: the input becomes the int8 tensor
    the QUANTIZE produced. A model that already takes int8 input is returned unchanged."""
    tfl = _schema()
    m = tfl.ModelT.InitFromPackedBuf(bytes(model), 0)
    sg = m.subgraphs[0]
    if sg.operators:
        first = sg.operators[0]
        src = sg.tensors[sg.inputs[0]]
        if (_op_name(tfl, m, first) == "QUANTIZE" and src.type == tfl.TensorType.FLOAT32
                and list(first.inputs) == [sg.inputs[0]]):
            sg.operators.pop(0)
            sg.inputs = [int(first.outputs[0])]
    return _pack(m)
