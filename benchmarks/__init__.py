"""Benchmarks: our pipeline against TFX's own Chicago taxi example.

Speed and size are measured here, not asserted in tests: timings depend on
the machine, so every number is reported as a ratio against an anchor run
on the same machine in the same session. Entry point: `make bench`
(`python -m benchmarks.run_all`).
"""
