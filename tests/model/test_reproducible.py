"""The model-preparation path gives the same int8 model and the same generated C under
different BLAS kernels, thread counts and numpy SIMD levels: nothing between the model file (or the seed) and
the C rounds float32 through BLAS in a machine-dependent way.

Each configuration runs in its own interpreter, because OpenBLAS reads OPENBLAS_CORETYPE
and OPENBLAS_NUM_THREADS once, when numpy loads it. A float32 matrix product is digested
too: it must differ between the two configurations, which proves they really ran different
kernels (otherwise the test could not fail and says so by skipping).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import hashlib, json, sys
from pathlib import Path
import numpy as np
from harness.scenario import load_scenarios
from harness.workload import prepare

def digest_qmodel(qm):
    h = hashlib.sha256()
    h.update(repr((qm.input.scale, qm.input.zero_point)).encode())
    for layer in qm.layers:
        for name, value in sorted(vars(layer).items()):
            if isinstance(value, np.ndarray):
                h.update(name.encode()); h.update(value.dtype.str.encode()); h.update(value.tobytes())
            elif name != "op":
                h.update(f"{name}={value!r}".encode())
    return h.hexdigest()

rng = np.random.default_rng(0)
a = rng.standard_normal((257, 300)).astype(np.float32)
b = rng.standard_normal((300, 129)).astype(np.float32)
out = {"blas_probe": hashlib.sha256((a @ b).tobytes()).hexdigest()}
wanted = set(sys.argv[1].split(","))
for f in ("scenarios/fashion.yaml", "scenarios/mbv2.yaml"):
    for s in load_scenarios(Path(f)):
        if s.name not in wanted:
            continue
        w = prepare(s.model, s.dataset, s.training)
        c = hashlib.sha256()
        for name, text in sorted(w.files().items()):
            c.update(name.encode()); c.update(b"\0"); c.update(text.encode())
        out[s.name] = {"qmodel": digest_qmodel(w.qmodel), "c": c.hexdigest(),
                       "train_x": hashlib.sha256(w.train_x.tobytes()).hexdigest()}
print(json.dumps(out))
"""

# a model file with a new head, one with the pretraining head and a domain shift, and a
# zoo model with seeded random weights calibrated exactly on the task's samples
SCENARIOS = ("fashion-new-classes", "fashion-domain-shift", "mbv2-w035-64-49kb-128KiB")
# the second also turns off numpy's own AVX2/AVX-512 loops (its baseline SSE4.2 code runs),
# as on an older CPU
CONFIGS = ({"OPENBLAS_CORETYPE": "Prescott"},
           {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1",
            "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"})


def _run(extra_env: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "NPY_"))}
    env.update(extra_env)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(SCENARIOS)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_int8_model_and_generated_c_do_not_depend_on_blas():
    a, b = (_run(cfg) for cfg in CONFIGS)
    if a["blas_probe"] == b["blas_probe"]:
        pytest.skip("this machine's OpenBLAS computed the same float32 product under both "
                    f"configurations {CONFIGS}: they do not exercise different kernels here")
    for name in SCENARIOS:
        assert a[name] == b[name], f"{name}: the int8 model or the C differs between {CONFIGS}"
