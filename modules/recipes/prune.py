"""Pruning recipe: magnitude pruning of the MLP's Dense kernels (tfmot 0.8.1).

Why: a mostly-zero model compresses well (gzip, TFLite) at little AUC cost.
It is not faster by itself: dense kernels still multiply their zeros unless a
sparse runtime (XNNPACK sparse inference) runs the model.

tfmot needs Keras 2, which the whole project already uses (`tf_keras`). The
pruning wrappers are stripped before the model is returned, so export sees a
plain model shaped like `build_model`'s, with zeros in its kernels.
"""
from absl import logging
import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from modules.model import build_model, compile_for_task, fit_model
from modules.recipes import training_result
from modules.recipes.settings import schedule_settings

tfmot_sparsity = tfmot.sparsity.keras


def _wrap_dense_layers(model: keras.Model, schedule) -> keras.Model:
    """Clone of `model` with every Dense layer in a pruning wrapper.

    Only Dense layers: wrapping the whole model would also wrap Concatenate.
    The wrappers hold `model`'s own Dense layers (tfmot wraps, not copies).
    """
    def clone(layer):
        if isinstance(layer, keras.layers.Dense):
            return tfmot_sparsity.prune_low_magnitude(
                layer, pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def dense_kernel_sparsity(model: keras.Model) -> dict:
    """Fraction of zeros in each Dense kernel and overall (biases unpruned)."""
    per_layer, zeros, total = {}, 0, 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = layer.kernel.numpy()
            layer_zeros = int(np.sum(kernel == 0))
            per_layer[layer.name] = layer_zeros / kernel.size
            zeros += layer_zeros
            total += kernel.size
    return {"sparsity": zeros / total, "sparsity_per_layer": per_layer}


def train_pruned(config, strategy, train_dataset, eval_dataset, fn_args):
    """Trains the float model with a polynomial sparsity ramp, then strips."""
    schedule = schedule_settings(config.options, fn_args.train_steps)
    with strategy.scope():
        template = build_model(config)
        pruned = _wrap_dense_layers(
            template, tfmot_sparsity.PolynomialDecay(**schedule))
        compile_for_task(pruned, config)
    fit_model(pruned, train_dataset, eval_dataset, fn_args, extra_callbacks=[
        tfmot_sparsity.UpdatePruningStep(),
        tfmot_sparsity.PruningSummaries(log_dir=fn_args.model_run_dir)])
    with strategy.scope():
        model = tfmot_sparsity.strip_pruning(pruned)
        compile_for_task(model, config)
    measured = dense_kernel_sparsity(model)
    params = int(model.count_params())
    zero_weights = sum(int(np.sum(w == 0)) for w in model.get_weights())
    report = {"optimization": "prune", "params": params,
              "nonzero_params": params - zero_weights, **measured,
              "schedule": schedule}
    logging.info("Pruned model: %s", report)
    return training_result(model, report)
