"""The taxi example's own user modules: its feature contract and a hand-tuned
preprocessing_fn (data/taxi/tfx-prod.yaml points at it). Nothing outside this
folder, the taxi config and the taxi data tools may import it."""
