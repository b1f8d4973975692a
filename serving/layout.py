"""The pushed model directory: the one contract between the pipeline and a server.

    <model base>/<version>/                 version: a positive integer, TF Serving's rule
        saved_model.pb, variables/, assets/ the SavedModel (what TF Serving loads)
        model.tflite                        the Quantizer's blessed TFLite variant, if any
        model.onnx                          `tfx-prod export onnx` only: the dense signature
        assets.extra/tfx_prod/              what the pipeline ships beside the model
            schema.pbtxt                    the raw-feature schema the model was trained on
            statistics.pb                   training-split statistics (DatasetFeatureStatisticsList)
            lineage.json                    where the model came from (spans, code, gate, run)
            missing_values.json             optional: dense inputs' "no value" sentinels
            manifest.sig                    optional: Ed25519 signature of manifest.json
                                            (serving/signing.py), written just before it
            encryption.json                 optional: the wrapped data key of an encrypted
                                            version (serving/encryption.py); not listed
            manifest.json                   written last: size + SHA-256 of every other file

TF Serving ignores `assets.extra/`, so a version stays loadable by the real
binary. A version is *complete* when its manifest exists and every file it
lists is present with the listed size; readers (the served-baseline component,
`tfx-prod serve`) take only complete versions. On a local filesystem the
Pusher also publishes by renaming a finished hidden directory, so an
incomplete version is never even visible; on object stores (no atomic rename)
the manifest-last rule is what makes a half-copied version invisible.

Everything goes through `tf.io.gfile`, so the same code reads `gs://`, `s3://`
and TF's in-memory `ram://` filesystem. This module must not import anything
from the pipeline: the server uses it too.
"""
import hashlib
import json
import posixpath
from typing import Callable, Iterable, Optional

import tensorflow as tf

META_DIR = "assets.extra/tfx_prod"
MANIFEST_FILE = f"{META_DIR}/manifest.json"
# Signs the exact bytes of MANIFEST_FILE, so the manifest cannot list it.
SIGNATURE_FILE = f"{META_DIR}/manifest.sig"
# An encrypted version's wrapped data key: rewritten by a key rotation, so
# it is not listed either (the wrap is authenticated by itself).
ENCRYPTION_FILE = f"{META_DIR}/encryption.json"
SCHEMA_FILE = f"{META_DIR}/schema.pbtxt"
STATISTICS_FILE = f"{META_DIR}/statistics.pb"
LINEAGE_FILE = f"{META_DIR}/lineage.json"
# {feature: sentinel}: the value a dense serving input carries for "no value"
# (training filled blanks with it). Optional; the server treats it as absent.
MISSING_VALUES_FILE = f"{META_DIR}/missing_values.json"
SAVED_MODEL_FILE = "saved_model.pb"
TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"
# model.onnx's metadata entry naming the signature it holds.
ONNX_SIGNATURE_KEY = "tfx_prod.signature_key"

# Hidden siblings a push writes before publishing: `.<version>.incomplete-…`.
INCOMPLETE_MARKER = ".incomplete-"
MANIFEST_FORMAT = 1
_CHUNK = 1 << 20


def join(*parts: str) -> str:
    """Joins URI parts with '/', whatever the OS (gs:// paths are not os paths)."""
    return posixpath.join(*parts)


def version_dir(model_base: str, version: int) -> str:
    return join(model_base, str(version))


def parse_version(name: str) -> Optional[int]:
    """A version directory name -> its number; None for anything else.

    Like TF Serving: decimal digits only (so hidden `.123.incomplete-x` and
    `tmp` are ignored), and a positive int64.
    """
    name = name.rstrip("/")
    if not name.isdigit() or not name.isascii():
        return None
    number = int(name)
    return number if 0 < number < 2**63 else None


def version_numbers(model_base: str) -> list[int]:
    """Every numeric child of `model_base`, complete or not, ascending."""
    if not tf.io.gfile.isdir(model_base):
        return []
    numbers = (parse_version(name) for name in tf.io.gfile.listdir(model_base))
    return sorted(n for n in numbers if n is not None)


def walk_files(root: str) -> Iterable[str]:
    """Relative paths ('/'-separated) of every file under `root`."""
    for directory, _, files in tf.io.gfile.walk(root):
        relative = directory[len(root):].strip("/")
        for name in files:
            yield join(relative, name) if relative else name


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def build_manifest(root: str) -> dict:
    """Size and SHA-256 of every file under `root` except the manifest itself,
    its signature (which signs the manifest, so it cannot be listed) and the
    encryption envelope (which a key rotation rewrites)."""
    files = {}
    for relative in sorted(walk_files(root)):
        if relative in (MANIFEST_FILE, SIGNATURE_FILE, ENCRYPTION_FILE):
            continue
        path = join(root, relative)
        files[relative] = {"size": tf.io.gfile.stat(path).length,
                           "sha256": file_digest(path)}
    return {"format": MANIFEST_FORMAT, "files": files}


def write_manifest(root: str,
                   sign: Optional[Callable[[bytes], dict]] = None) -> dict:
    """Writes `manifest.json` under `root`; call it after every other file.

    `sign(manifest bytes) -> signature document` (serving/signing.py): the
    signature is written first, so the manifest stays the last file and a
    version that is complete is also signed.
    """
    manifest = build_manifest(root)
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    tf.io.gfile.makedirs(join(root, META_DIR))
    if sign is not None:
        with tf.io.gfile.GFile(join(root, SIGNATURE_FILE), "wb") as f:
            f.write(json.dumps(sign(text), indent=1, sort_keys=True).encode())
    with tf.io.gfile.GFile(join(root, MANIFEST_FILE), "wb") as f:
        f.write(text)
    return manifest


def read_manifest(root: str) -> Optional[dict]:
    """The manifest, or None if absent or unreadable (an incomplete version)."""
    path = join(root, MANIFEST_FILE)
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            manifest = json.loads(f.read())
    except (tf.errors.NotFoundError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(
            manifest.get("files"), dict):
        return None
    return manifest


def manifest_digest(manifest: dict) -> str:
    """One digest for a whole version: the hash of its manifest's content."""
    text = json.dumps(manifest["files"], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def model_digest(manifest: dict) -> str:
    """Identity of the model itself: the SavedModel files, not our metadata.

    Two versions with the same model digest serve the same model, whatever
    lineage or TFLite variant rode along with them.
    """
    model_files = {path: entry["sha256"] for path, entry in
                   manifest["files"].items()
                   if path == SAVED_MODEL_FILE or path.startswith("variables/")}
    text = json.dumps(model_files, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _is_payload(path: str) -> bool:
    return not path.startswith("assets.extra/")


def payload_digest(manifest: dict) -> str:
    """Identity of what a server loads: every file outside `assets.extra/`.

    That is the SavedModel plus `model.tflite` and the assets; not the
    lineage, reports or timestamps riding along. Two pushes with the same
    payload digest serve identically, so the second is not a new version.
    """
    files = {path: entry["sha256"] for path, entry in
             manifest["files"].items() if _is_payload(path)}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()
                          ).hexdigest()


def directory_digests(directory: str) -> tuple[str, str]:
    """(model_digest, payload_digest) of a directory that has no manifest."""
    files = {relative: {"sha256": file_digest(join(directory, relative))}
             for relative in walk_files(directory)
             if _is_payload(relative)}
    manifest = {"files": files}
    return model_digest(manifest), payload_digest(manifest)


def saved_model_digest(saved_model_dir: str) -> str:
    """`model_digest` of a SavedModel directory that has no manifest yet."""
    return directory_digests(saved_model_dir)[0]


def missing_or_wrong_size(root: str, manifest: dict) -> list[str]:
    """Files the manifest lists that are absent or have another size."""
    problems = []
    for relative, entry in sorted(manifest["files"].items()):
        path = join(root, relative)
        if not tf.io.gfile.exists(path):
            problems.append(f"{relative}: missing")
        elif tf.io.gfile.stat(path).length != entry["size"]:
            problems.append(f"{relative}: {tf.io.gfile.stat(path).length} "
                            f"bytes, manifest says {entry['size']}")
    return problems


def changed_files(root: str, manifest: dict) -> list[str]:
    """Like `missing_or_wrong_size`, plus files whose SHA-256 differs (slow)."""
    problems = missing_or_wrong_size(root, manifest)
    broken = {p.split(":")[0] for p in problems}
    for relative, entry in sorted(manifest["files"].items()):
        if relative not in broken and file_digest(
                join(root, relative)) != entry["sha256"]:
            problems.append(f"{relative}: SHA-256 differs from the manifest")
    return problems


def is_complete(root: str) -> bool:
    """Manifest present and every listed file there with its size (no hashing)."""
    manifest = read_manifest(root)
    return manifest is not None and not missing_or_wrong_size(root, manifest)


def complete_versions(model_base: str) -> list[int]:
    """Complete versions under `model_base`, ascending."""
    return [v for v in version_numbers(model_base)
            if is_complete(version_dir(model_base, v))]


def newest_complete_version(model_base: str) -> Optional[int]:
    complete = complete_versions(model_base)
    return complete[-1] if complete else None


def read_lineage(root: str) -> dict:
    """The version's lineage record ({} when it has none)."""
    try:
        with tf.io.gfile.GFile(join(root, LINEAGE_FILE), "r") as f:
            return json.loads(f.read())
    except (tf.errors.NotFoundError, ValueError):
        return {}


def read_missing_values(root: str) -> dict:
    """The version's missing-value sentinels ({} when it ships none)."""
    try:
        with tf.io.gfile.GFile(join(root, MISSING_VALUES_FILE), "r") as f:
            values = json.loads(f.read())
    except (tf.errors.NotFoundError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def write_missing_values(root: str, values: dict) -> None:
    """Writes MISSING_VALUES_FILE; call before `write_manifest`."""
    tf.io.gfile.makedirs(join(root, META_DIR))
    with tf.io.gfile.GFile(join(root, MISSING_VALUES_FILE), "w") as f:
        f.write(json.dumps(values, indent=1, sort_keys=True))
