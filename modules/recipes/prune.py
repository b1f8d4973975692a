"""Pruning recipe: magnitude pruning of the MLP's Dense kernels (tfmot 0.8.1).

Why: a mostly-zero model compresses well (gzip, TFLite) at little AUC cost.
It is not faster by itself: dense kernels still multiply their zeros unless a
sparse runtime (XNNPACK sparse inference) runs the model.

tfmot needs Keras 2, which the whole project already uses (`tf_keras`). The
pruning wrappers are stripped before the model is returned, so export sees a
plain model shaped like `build_model`'s, with zeros in its kernels.
"""
from typing import Any, Mapping

from absl import logging
import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from modules.model import TrainerConfig, build_model, fit_model
from modules.recipes import training_result

tfmot_sparsity = tfmot.sparsity.keras

# tfmot's default; a smaller divisor of the pruning span is used when needed.
MAX_PRUNING_FREQUENCY = 100


def _default_frequency(span: int) -> int:
    """Largest step interval <= 100 that divides the pruning span.

    tfmot only prunes on steps `begin + k * frequency` up to `end`, so if the
    frequency does not divide `end - begin` the final sparsity is never
    applied (e.g. span 160, frequency 100: the last mask is ~0.785, not 0.8).
    """
    return max(f for f in range(1, min(span, MAX_PRUNING_FREQUENCY) + 1)
               if span % f == 0)


def schedule_settings(options: Mapping[str, Any], train_steps: int) -> dict:
    """Validated PolynomialDecay arguments from `config.options`."""
    initial = float(options.get("initial_sparsity", 0.5))
    final = float(options.get("final_sparsity", 0.8))
    begin = int(options.get("pruning_begin_step", 0))
    end = int(options.get("pruning_end_step", int(0.8 * train_steps)))
    if not 0 <= initial <= final < 1:
        raise ValueError(
            f"Pruning needs 0 <= initial_sparsity <= final_sparsity < 1; got "
            f"initial_sparsity={initial}, final_sparsity={final}.")
    if not 0 <= begin < end <= train_steps:
        raise ValueError(
            f"Pruning needs 0 <= pruning_begin_step < pruning_end_step <= "
            f"train_steps; got begin={begin}, end={end}, "
            f"train_steps={train_steps}.")
    frequency = int(options.get("pruning_frequency",
                                _default_frequency(end - begin)))
    if frequency <= 0 or (end - begin) % frequency:
        raise ValueError(
            f"pruning_frequency={frequency} must be > 0 and divide "
            f"pruning_end_step - pruning_begin_step = {end - begin}, or "
            f"final_sparsity is never reached.")
    return {"initial_sparsity": initial, "final_sparsity": final,
            "begin_step": begin, "end_step": end, "frequency": frequency}


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


def _compile_like(model: keras.Model, template: keras.Model,
                  config: TrainerConfig) -> None:
    """`template`'s loss and XLA setting, fresh optimizer and metric state."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=template.loss,
        metrics=[keras.metrics.AUC(name="auc")],
        jit_compile=template.jit_compile)


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
        _compile_like(pruned, template, config)
    fit_model(pruned, train_dataset, eval_dataset, fn_args, extra_callbacks=[
        tfmot_sparsity.UpdatePruningStep(),
        tfmot_sparsity.PruningSummaries(log_dir=fn_args.model_run_dir)])
    with strategy.scope():
        model = tfmot_sparsity.strip_pruning(pruned)
        _compile_like(model, template, config)
    measured = dense_kernel_sparsity(model)
    params = int(model.count_params())
    zero_weights = sum(int(np.sum(w == 0)) for w in model.get_weights())
    report = {"optimization": "prune", "params": params,
              "nonzero_params": params - zero_weights, **measured,
              "schedule": schedule}
    logging.info("Pruned model: %s", report)
    return training_result(model, report)
