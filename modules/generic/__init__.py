"""Default user code, driven by the project file: no code edits for a new CSV."""
