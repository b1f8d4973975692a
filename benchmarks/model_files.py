"""Find a run's model files and measure their gzipped sizes.

Why gzip: pruning leaves the weight count unchanged and only zeroes
values, so raw sizes hide it; a general-purpose compressor shows what a
download or a model store would actually hold. Every size is gzip level 9
with a fixed mtime, so the same bytes always give the same number.
"""
import gzip
import io
import os
import tarfile

SAVED_MODEL_FILES = ("saved_model.pb", "variables")
VARIANTS_DIRNAME = "variants"  # components/quantizer/executor.py
SERVING_DIRNAME = "Format-Serving"


def gzip_size(data):
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def gzipped_file(path):
    """gzip -9 size of one file, None if it is missing."""
    try:
        with open(path, "rb") as f:
            return gzip_size(f.read())
    except OSError:
        return None


def _tar_member(tar, path, arcname):
    """Add a file with zeroed metadata, so only the content counts."""
    info = tar.gettarinfo(path, arcname)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    with open(path, "rb") as f:
        tar.addfile(info, f)


def gzipped_saved_model(saved_model_dir):
    """gzip -9 size of a tar of saved_model.pb + variables/, else None.

    assets/ (vocabularies), keras_metadata.pb and fingerprint.pb are left
    out: they do not change with pruning and would only blur the ratio.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) \
            as tar:
        for name in SAVED_MODEL_FILES:
            path = os.path.join(saved_model_dir, name)
            if os.path.isfile(path):
                _tar_member(tar, path, name)
            elif os.path.isdir(path):
                for root, _, files in sorted(os.walk(path)):
                    for file in sorted(files):
                        full = os.path.join(root, file)
                        _tar_member(tar, full, os.path.relpath(
                            full, saved_model_dir))
            else:
                return None
    return gzip_size(buffer.getvalue())


def _newest_output(pipeline_root, component, output):
    """The output dir of the component's latest execution (highest id)."""
    base = os.path.join(pipeline_root or "", component, output)
    try:
        ids = [int(name) for name in os.listdir(base) if name.isdigit()]
    except OSError:
        return None
    return os.path.join(base, str(max(ids))) if ids else None


def quantizer_output(summary, pipeline_root):
    """(Quantizer.quantized_model uri, how it was found), or (None, why).

    The summary names it under `artifacts`; summaries from before that key
    existed fall back to the newest Quantizer output under the root, which
    is right as long as it is read before the next run in the same root.
    """
    artifacts = (summary or {}).get("artifacts") or {}
    uri = artifacts.get("Quantizer.quantized_model")
    if uri:
        return uri, "summary artifacts"
    uri = _newest_output(pipeline_root, "Quantizer", "quantized_model")
    if uri:
        return uri, "newest Quantizer output (summary has no artifacts)"
    return None, "no Quantizer output (not blessed, or the run failed)"


def saved_model_dir(quantizer_uri):
    """The Quantizer's copy of the SavedModel it measured."""
    return os.path.join(quantizer_uri, SERVING_DIRNAME)


def tflite_path(quantizer_uri, variant):
    return os.path.join(quantizer_uri, VARIANTS_DIRNAME, f"{variant}.tflite")
