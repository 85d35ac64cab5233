"""Helpers shared by the test modules: virtual environments and script runs."""
