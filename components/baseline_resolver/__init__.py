"""Evaluator baseline: the latest blessed model other than the candidate."""
from components.baseline_resolver.node import RESOLVER_ID, baseline_resolver
from components.baseline_resolver.strategy import LatestBlessedBaselineStrategy

__all__ = ["LatestBlessedBaselineStrategy", "RESOLVER_ID",
           "baseline_resolver"]
