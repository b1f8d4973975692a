"""`tfx-prod export onnx`: a pushed version's dense signature in ONNX, as a
new servable version for `tfx-prod serve --runtime onnx`.

    tfx-prod export onnx                       # newest pushed version
    tfx-prod export onnx 1733170000 --out onnx_models/taxi
    tfx-prod serve --model_name=taxi --model_base_path=onnx_models/taxi --runtime onnx

What is converted: `predict_transformed` (Transform outputs -> the model's
output), the signature the Quantizer turns into TFLite: it holds no tables
or string ops, so tf2onnx maps it to plain ONNX operators. The raw-feature
signatures stay SavedModel-only, exactly as for `--runtime tflite`.

The pushed version is never modified (its manifest, maybe its signature,
covers exactly what the Pusher wrote). The export is a copy of the version
plus `model.onnx`, with a new manifest written last, so a server polling
`--out` only ever sees it complete; `--signing-key` signs that manifest.
Before writing, the ONNX model must agree with the SavedModel on random
inputs, so a conversion fault is never served.
"""
import argparse
import os
import sys

import numpy as np

from tfx_prod import history

EXIT_USAGE, EXIT_FAILED = 2, 1
SIGNATURE = "predict_transformed"
OPSET = 17
CHECK_ROWS = 64
MAX_ABS_DIFFERENCE = 1e-4


class ExportError(ValueError):
    """A version that cannot be exported; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n")[1]
    formats = parser.add_subparsers(dest="export_format", required=True,
                                    metavar="{onnx}")
    onnx = formats.add_parser(
        "onnx", help="the dense signature in ONNX, for serve --runtime onnx")
    history.add_version_arguments(onnx)
    onnx.add_argument("--out", metavar="DIR|URI",
                      help="model base to write VERSION into (default: "
                           "HOME/serving-onnx/MODEL)")
    onnx.add_argument("--signing-key", metavar="FILE",
                      help="Ed25519 key that signs the export's manifest "
                           "(default: $TFX_PROD_SIGNING_KEY; neither: "
                           "unsigned)")


def main(args) -> int:
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from serving import layout, signing
    try:
        source = history.version_path(args)
        if "://" not in source:
            source = os.path.abspath(source)
        parent, name = source.rstrip("/").rsplit("/", 1)
        version = layout.parse_version(name)
        if version is None:
            raise LookupError(f"{source}: its directory name is not a "
                              "version number")
        out = args.out or os.path.join(args.home, "serving-onnx",
                                       parent.rsplit("/", 1)[-1])
        key_path = args.signing_key or os.environ.get(signing.SIGNING_KEY_ENV)
        key = signing.load_private_key(key_path) if key_path else None
    except (LookupError, signing.KeyFileError) as error:
        print(f"tfx-prod export: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        target, difference = export_onnx(source, out, version, key)
    except ExportError as error:
        print(f"tfx-prod export: error: {source}: {error}", file=sys.stderr)
        return EXIT_FAILED
    signed = (f", signed with {signing.key_id(key.public_key())}" if key
              else ", unsigned")
    print(f"exported {source} -> {target}\n"
          f"  {layout.ONNX_FILE}: opset {OPSET}, signature {SIGNATURE!r}; "
          f"max |ONNX - SavedModel| on {CHECK_ROWS} random rows: "
          f"{difference:.1e}{signed}\n"
          f"serve it:  tfx-prod serve --model_name="
          f"{out.rstrip('/').rsplit('/', 1)[-1]} --model_base_path={out} "
          "--runtime onnx")
    return 0


def convert(saved_model_dir: str) -> tuple:
    """(serialized ONNX model, max abs difference to the SavedModel)."""
    import tensorflow as tf
    import onnxruntime
    import tf2onnx
    from serving import layout
    loaded = tf.saved_model.load(saved_model_dir)
    if SIGNATURE not in loaded.signatures:
        raise ExportError(f"no {SIGNATURE!r} signature (it has "
                          f"{sorted(loaded.signatures.keys())}); only models "
                          "tfx-prod's Trainer exported can be converted")
    function = loaded.signatures[SIGNATURE]
    specs = [tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec
             in sorted(function.structured_input_signature[1].items())]

    @tf.function(input_signature=specs)
    def positional(*columns):
        return function(**{s.name: c for s, c in zip(specs, columns)})
    try:
        model, _ = tf2onnx.convert.from_function(
            positional, input_signature=specs, opset=OPSET)
    except Exception as error:  # tf2onnx raises many kinds
        raise ExportError(f"tf2onnx could not convert {SIGNATURE}: "
                          f"{error}") from None
    entry = model.metadata_props.add()
    entry.key, entry.value = layout.ONNX_SIGNATURE_KEY, SIGNATURE
    content = model.SerializeToString()
    session = onnxruntime.InferenceSession(
        content, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {s.name: rng.uniform(0, 1, (CHECK_ROWS, s.shape[1])).astype(
        s.dtype.as_numpy_dtype) for s in specs}
    expected = function(**{k: tf.constant(v) for k, v in feeds.items()})
    names = [o.name for o in session.get_outputs()]
    if sorted(names) != sorted(expected):
        raise ExportError(f"ONNX outputs {names} are not the signature's "
                          f"{sorted(expected)}")
    got = dict(zip(names, session.run(names, feeds)))
    difference = max(float(np.max(np.abs(got[k] - expected[k].numpy())))
                     for k in names)
    if not difference <= MAX_ABS_DIFFERENCE:
        raise ExportError(f"the ONNX model differs from the SavedModel by "
                          f"{difference:.3g} > {MAX_ABS_DIFFERENCE} on random "
                          "inputs; not exported")
    return content, difference


def export_onnx(version_dir: str, out_base: str, version: int,
                private_key=None) -> tuple:
    """Writes out_base/<version> (the version's files + model.onnx, manifest
    last); returns (its path, the conversion's max abs difference)."""
    import tensorflow as tf
    from components.pusher import publish
    from serving import encryption, layout, signing
    if encryption.read_envelope(version_dir) is not None:
        raise ExportError("encrypted at rest; export needs the plaintext "
                          "model (push it without --encryption-key)")
    target = layout.version_dir(out_base, version)
    if layout.read_manifest(target) is not None:
        raise ExportError(f"{target} is already exported (delete it to "
                          "export again)")
    content, difference = convert(version_dir)
    publish.copy_tree(version_dir, target, skip={
        layout.MANIFEST_FILE, layout.SIGNATURE_FILE, layout.ENCRYPTION_FILE})
    with tf.io.gfile.GFile(layout.join(target, layout.ONNX_FILE), "wb") as f:
        f.write(content)
    layout.write_manifest(target, sign=signing.signer(private_key)
                          if private_key is not None else None)
    return target, difference
