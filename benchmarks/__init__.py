"""Benchmarks: our pipeline against TFX's own Chicago taxi example.

Speed and size are measured here, not asserted in tests: timings depend on
the machine, so every figure is a ratio against an anchor measured in the
same repeat on the same machine, repeated and reported as median and
min–max (`stats`). Entry point: `make bench` (`python -m benchmarks.run_all`,
then `python -m benchmarks.readme_tables` writes README.md's blocks).
"""
