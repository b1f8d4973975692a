"""DriftCheck: drift of the newest span against the served model's data."""
from components.drift_check.component import DriftCheck

__all__ = ["DriftCheck"]
