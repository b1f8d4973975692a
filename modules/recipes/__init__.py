"""Training recipes beyond the plain fit: pruning and distillation.

Each recipe has the `modules.trainer` signature
`recipe(config, strategy, train_dataset, eval_dataset, fn_args)` and returns a
`TrainingResult` whose model is a plain Keras model shaped like
`build_model`'s, so the shared export path (`export_serving_model`) works
unchanged.
"""


def training_result(model, report):
    """Wraps a recipe's output in `trainer.TrainingResult`.

    Imported late: trainer.py imports the recipes to register them, so a
    top-level import here would be circular.
    """
    from modules.trainer import TrainingResult
    return TrainingResult(model, report)
