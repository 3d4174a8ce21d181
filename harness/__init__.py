"""mcutrain: on-device training for microcontrollers, compiled, emulated and gated by pytest."""
__version__ = "0.1.0"
