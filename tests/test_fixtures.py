"""The fixtures users write their own Python tests with, over the same builds and runs."""
from harness.pipeline import REPO


def test_user_test_over_a_scenario(mcutrain_pipeline, load_scenario):
    scenario = load_scenario(REPO / "scenarios" / "selftest.yaml", "selftest-stack")
    out = mcutrain_pipeline.run(scenario)
    assert out.run.status == "ok"
    # peak SRAM = static RAM + the measured stack high-water mark (2880 B for this recursion)
    assert out.metrics["stack_high_water"] == 2880
    assert out.metrics["peak_sram"] == out.memory.static_sram + 2880
