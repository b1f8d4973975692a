"""Quantizer component: TFLite variants gated on an AUC budget."""
from components.quantizer.component import Quantizer

__all__ = ["Quantizer"]
