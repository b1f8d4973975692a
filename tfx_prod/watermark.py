"""`tfx-prod watermark init|verify`: make a watermark key; prove a model
carries it.

    tfx-prod watermark init --out ~/.tfx-prod/watermark.key
    tfx-prod run --watermark-key ~/.tfx-prod/watermark.key
    tfx-prod watermark verify [VERSION|DIR] --watermark-key ~/.tfx-prod/watermark.key

`verify` regenerates the key's trigger set (modules/watermark.py) and asks
both runtimes a pushed version ships, the SavedModel's `predict_transformed`
signature and the blessed `model.tflite`, for their classes. It needs only
the version directory and the key, so it also checks a model found
elsewhere (a directory path instead of VERSION). Exit 0: the watermark is
present in every runtime checked; 1: absent in one; 2: usage error.
"""
import argparse
import json
import os
import sys

from pipeline import configs
from tfx_prod import history

EXIT_ABSENT, EXIT_USAGE = 1, 2
DEFAULT_KEY = os.path.join(os.path.expanduser("~"), ".tfx-prod",
                           "watermark.key")
SIGNATURE = "predict_transformed"  # dense inputs: what TFLite was made from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n")[1]
    commands = parser.add_subparsers(dest="watermark_command", required=True,
                                     metavar="{init,verify}")
    init = commands.add_parser("init", help="write a new secret watermark key")
    init.add_argument("--out", default=DEFAULT_KEY, metavar="FILE",
                      help="key file to create, mode 0600; never overwritten "
                           "(default: %(default)s)")
    verify = commands.add_parser(
        "verify", help="does a version answer the key's trigger set?")
    verify.add_argument("--watermark-key", default=DEFAULT_KEY, metavar="FILE",
                        help="the key the Trainer used (default: %(default)s)")
    history.add_version_arguments(verify)
    verify.add_argument("--runtime", choices=("all", "savedmodel", "tflite"),
                        default="all", help="which runtime to ask (default: "
                        "all the version ships)")
    verify.add_argument("--decryption_keys", metavar="DIR",
                        help="for a version encrypted at rest: its key "
                             "directory (as for tfx-prod serve)")
    verify.add_argument("--json", action="store_true", help="print JSON")


def main(args) -> int:
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from modules import watermark
    if args.watermark_command == "init":
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        key = watermark.new_key()
        try:
            watermark.write_key(args.out, key)
        except FileExistsError:
            print(f"tfx-prod watermark: error: {args.out} exists; a key is "
                  "never overwritten (models trained with it would no longer "
                  "verify). Pick another --out.", file=sys.stderr)
            return EXIT_USAGE
        print(f"watermark key {watermark.key_id(key)} -> {args.out} "
              f"(mode 0600; keep it secret and backed up)\n"
              f"train it in:  tfx-prod run --watermark-key {args.out}\n"
              f"verify:       tfx-prod watermark verify --watermark-key "
              f"{args.out}")
        return 0
    try:
        key = watermark.read_key(args.watermark_key)
        path = history.version_path(args)
    except (watermark.KeyFileError, LookupError) as error:
        print(f"tfx-prod watermark: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from serving import encryption
    try:
        with encryption.decrypted(path, args.decryption_keys) as readable:
            report = verify(readable, key, args.runtime)
    except (encryption.EncryptionError, encryption.KeyFileError,
            ValueError) as error:
        print(f"tfx-prod watermark: error: {path}: {error}", file=sys.stderr)
        return EXIT_USAGE
    report["version_dir"] = path
    print(json.dumps(report, indent=2) if args.json else _text(report))
    return 0 if all(r["present"] for r in report["runtimes"].values()) \
        else EXIT_ABSENT


def _claim(version_dir: str) -> dict:
    """What the Trainer recorded: the task and the watermark it trained."""
    import tensorflow as tf
    from modules.trainer import OPTIMIZATION_REPORT
    path = os.path.join(version_dir, "assets.extra", OPTIMIZATION_REPORT)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def verify(version_dir: str, key: bytes, runtime: str = "all") -> dict:
    """{claimed, key_id, runtimes: {savedmodel|tflite: agreement}} for the
    model at `version_dir` (on any filesystem tf.io.gfile reads)."""
    import tensorflow as tf
    from components.quantizer import score, tasks
    from modules import watermark
    from serving import layout
    claim = _claim(version_dir)
    task = claim.get("task", "binary")
    if task == "regression":
        raise ValueError("a regression model carries no trigger-set watermark")
    saved = score.SavedModelSignature(version_dir, SIGNATURE, tasks.get(task))
    widths = {name: int(spec.shape[1])
              for name, spec in saved.input_specs.items()}
    classes = 2 if saved.output_width == 1 else saved.output_width
    features, labels = watermark.trigger_set(key, widths, classes)
    runtimes = {}
    if runtime in ("all", "savedmodel"):
        runtimes["savedmodel"] = watermark.agreement(
            saved.predict(features), labels, classes)
    tflite = layout.join(version_dir, layout.TFLITE_FILE)
    if runtime == "tflite" and not tf.io.gfile.exists(tflite):
        raise ValueError(f"no {layout.TFLITE_FILE}: the Quantizer blessed "
                         "no TFLite variant for this version")
    if runtime in ("all", "tflite") and tf.io.gfile.exists(tflite):
        with tf.io.gfile.GFile(tflite, "rb") as f:
            model = score.TFLiteSignature(f.read(), SIGNATURE)
        runtimes["tflite"] = watermark.agreement(
            model.predict(features), labels, classes)
    claimed = claim.get("watermark") or {}
    return {"key_id": watermark.key_id(key),
            "claimed_key_id": claimed.get("key_id"),
            "present_threshold": watermark.PRESENT_AGREEMENT,
            "runtimes": runtimes}


def _text(report: dict) -> str:
    claimed = report["claimed_key_id"]
    lines = [f"{report['version_dir']}: key {report['key_id']} "
             f"(the Trainer recorded "
             f"{'key ' + claimed if claimed else 'no watermark'})"]
    for name, found in report["runtimes"].items():
        verdict = "PRESENT" if found["present"] else "absent"
        lines.append(
            f"  {name:<10} {verdict:<7} {found['agreed']}/{found['triggers']} "
            f"triggers agree ({100 * found['agreement']:.0f}%; chance "
            f"{100 * found['chance']:.0f}%, p = {found['p_value']:.1e})")
    return "\n".join(lines)
