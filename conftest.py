"""Registers the mcutrain scenario plugin for this repository's test runs."""
pytest_plugins = ["harness.pytest_plugin", "pytester"]
