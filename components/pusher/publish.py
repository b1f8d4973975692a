"""Publishing one model version under a TF Serving model base, safely.

Rules (each has a test in executor_test.py):
- Versions strictly increase and never collide: the new number is
  max(now in seconds, highest existing number + 1), so two pushes in one
  second, or after the clock stepped back, still get distinct, increasing
  numbers (TF Serving serves the highest).
- Publish last. Locally the whole version (model, metadata, manifest) is
  staged in a hidden `.<v>.incomplete-<host>-<pid>-<rand>` sibling, fsynced,
  then renamed into place: the version is either absent or complete. If the
  number was taken meanwhile (a concurrent push), the next number is tried;
  an existing version is never overwritten or reported as ours.
- Object stores (gs://, s3://) have no atomic rename. There the files are
  written straight into `<v>/` in an order that is safe for every reader:
  our metadata, then the variables and assets, then `saved_model.pb` (the
  file TF Serving waits for, as TFX's own Pusher does), then `manifest.json`
  (the marker `serving.layout` requires before calling a version complete).
- Encrypted pushes (serving/encryption.py) never write plaintext under the
  model base: our metadata is first written to a ram:// scratch dir, and
  every file is encrypted as it is copied into the version; the envelope
  (which lists them) comes after saved_model.pb. The manifest (and its signature) then
  list the encrypted bytes: what is on disk is what is signed.
- Orphans of crashed pushes are swept: local staging dirs whose process is
  gone (or older than a day), remote versions with our metadata but no
  manifest that are older than an hour.
"""
import os
import posixpath
import random
import socket
import time
import uuid
from typing import Callable, Optional

import tensorflow as tf
from absl import logging

from serving import encryption, layout

STALE_STAGING_SECONDS = 24 * 3600
STALE_REMOTE_SECONDS = 3600
PUBLISH_ATTEMPTS = 5
_gfile = tf.io.gfile


def is_local(uri: str) -> bool:
    """Plain paths (and file://) are local; gs://, s3://, ram://... are not."""
    return "://" not in uri or uri.startswith("file://")


def next_version(model_base: str, clock: Callable[[], float] = time.time) -> int:
    """A number above every existing version dir, and at least the clock."""
    existing = layout.version_numbers(model_base)
    return max(int(clock()), (existing[-1] + 1) if existing else 1)


def _copy(source: str, target: str, relative: str, sealer=None) -> None:
    """One file; with a `sealer` (encryption.Sealer) its bytes as sealed."""
    if sealer is None:
        _gfile.copy(layout.join(source, relative),
                    layout.join(target, relative), overwrite=True)
        return
    with _gfile.GFile(layout.join(source, relative), "rb") as f:
        data = sealer.seal(relative, f.read())
    _gfile.makedirs(posixpath.dirname(layout.join(target, relative)))
    with _gfile.GFile(layout.join(target, relative), "wb") as f:
        f.write(data)


def copy_tree(source: str, target: str, skip=(), sealer=None) -> None:
    """Copies every file under `source` to `target`; `skip` are relative paths."""
    for directory, _, files in _gfile.walk(source):
        relative = directory[len(source):].strip("/")
        _gfile.makedirs(layout.join(target, relative) if relative else target)
        for name in files:
            path = layout.join(relative, name) if relative else name
            if path not in skip:
                _copy(source, target, path, sealer)


def _write_sealed_metadata(target: str, write_metadata, sealer) -> None:
    """Our metadata via a ram:// scratch dir, so no plaintext lands under
    the model base; lineage.json first (its age dates a push), then the
    rest, each file sealed."""
    scratch = f"ram://tfx-prod-push-{uuid.uuid4().hex}/version"
    try:
        _gfile.makedirs(scratch)
        write_metadata(scratch)
        _gfile.makedirs(target)
        first = ()
        if _gfile.exists(layout.join(scratch, layout.LINEAGE_FILE)):
            first = (layout.LINEAGE_FILE,)
            _copy(scratch, target, layout.LINEAGE_FILE, sealer)
        copy_tree(scratch, target, skip=set(first), sealer=sealer)
    finally:
        _gfile.rmtree(scratch.rsplit("/", 1)[0])


def stage_version(target: str, model_dir: str,
                  write_metadata: Callable[[str], None],
                  sign: Optional[Callable[[bytes], dict]] = None,
                  sealer=None) -> dict:
    """Writes a complete version into `target`, in the order readers rely on.

    `write_metadata(target)` adds our files under `layout.META_DIR`; `sign`
    (serving/signing.py) signs the manifest; `sealer`
    (serving/encryption.Sealer) encrypts every file. Returns the manifest,
    which is written last.
    """
    if not _gfile.exists(layout.join(model_dir, layout.SAVED_MODEL_FILE)):
        raise FileNotFoundError(
            f"No {layout.SAVED_MODEL_FILE} in {model_dir}: nothing to push. "
            "The Trainer must export a SavedModel to <model uri>/"
            "Format-Serving (fn_args.serving_model_dir).")
    _gfile.makedirs(target)
    if sealer is None:
        write_metadata(target)
    else:
        _write_sealed_metadata(target, write_metadata, sealer)
    copy_tree(model_dir, target, skip={layout.SAVED_MODEL_FILE},
               sealer=sealer)
    _copy(model_dir, target, layout.SAVED_MODEL_FILE, sealer)
    if sealer is not None:
        encryption.write_envelope(target, sealer.envelope)
    return layout.write_manifest(target, sign=sign)


def _fsync_tree(root: str) -> None:
    """Local only: flush files and dirs so a power cut cannot publish holes."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def _staging_name(version: int) -> str:
    return (f".{version}{layout.INCOMPLETE_MARKER}{socket.gethostname()}-"
            f"{os.getpid()}-{random.getrandbits(32):08x}")


def publish(model_base: str, model_dir: str,
            write_metadata: Callable[[str], None],
            clock: Callable[[], float] = time.time,
            sign: Optional[Callable[[bytes], dict]] = None,
            new_sealer: Optional[Callable[[], object]] = None) -> int:
    """Publishes `model_dir` (+ metadata) as a new version; returns its number.

    `sign`: signs the version's manifest (None: an unsigned version);
    `new_sealer() -> encryption.Sealer`: encrypts it (None: plaintext)."""
    _gfile.makedirs(model_base)
    sweep_orphans(model_base)
    sealer = new_sealer() if new_sealer else None
    if not is_local(model_base):
        return _publish_remote(model_base, model_dir, write_metadata, clock,
                               sign, sealer)
    version = next_version(model_base, clock)
    staging = layout.join(model_base, _staging_name(version))
    try:
        _stage(staging, model_dir, write_metadata, sign, sealer)
        _fsync_tree(_local_path(staging))
        for _ in range(PUBLISH_ATTEMPTS):
            target = layout.version_dir(model_base, version)
            if os.path.lexists(_local_path(target)):
                # rename(2) replaces an *empty* dir: a writer that has just
                # created this version (mkdir, then copy) would lose it.
                logging.info("Version %s appeared during the push; trying "
                             "the next number.", version)
                version = next_version(model_base, clock)
                continue
            try:
                # rename(2): atomic, and fails if the target exists and is
                # non-empty, so another push's version is never replaced.
                os.rename(_local_path(staging), _local_path(target))
            except OSError as error:
                if not os.path.exists(_local_path(target)):
                    raise
                logging.info("Version %s appeared during the push (%s); "
                             "trying the next number.", version, error)
                version = next_version(model_base, clock)
                continue
            fd = os.open(_local_path(model_base), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return version
        raise RuntimeError(
            f"Could not publish under {model_base}: {PUBLISH_ATTEMPTS} "
            "version numbers were taken while pushing. Is another process "
            "pushing in a loop into the same directory?")
    finally:
        if _gfile.exists(staging):
            _gfile.rmtree(staging)


def _publish_remote(model_base, model_dir, write_metadata, clock,
                    sign, sealer=None) -> int:
    version = next_version(model_base, clock)
    target = layout.version_dir(model_base, version)
    if _gfile.exists(target):  # lost a race between listing and writing
        version = next_version(model_base, clock)
        target = layout.version_dir(model_base, version)
    logging.info("Object store %s has no atomic rename: writing %s in place, "
                 "manifest last.", model_base, target)
    _stage(target, model_dir, write_metadata, sign, sealer)
    return version


def _stage(target, model_dir, write_metadata, sign, sealer) -> None:
    """stage_version, passing `sealer` only when encrypting (so a wrapper
    of stage_version's plain signature keeps working)."""
    if sealer is None:
        stage_version(target, model_dir, write_metadata, sign)
    else:
        stage_version(target, model_dir, write_metadata, sign, sealer=sealer)


def _age_seconds(uri: str) -> float:
    return time.time() - _gfile.stat(uri).mtime_nsec / 1e9


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_abandoned_staging(model_base: str, name: str) -> bool:
    """A `.<v>.incomplete-<host>-<pid>-<rand>` dir nobody is writing to."""
    owner = name.partition(layout.INCOMPLETE_MARKER)[2]
    parts = owner.rsplit("-", 2)  # the host name itself may contain '-'
    old = _age_seconds(layout.join(model_base, name)) > STALE_STAGING_SECONDS
    if len(parts) == 3 and parts[1].isdigit() and (
            parts[0] == socket.gethostname()):
        return old or not _pid_alive(int(parts[1]))
    return old


def sweep_orphans(model_base: str) -> list[str]:
    """Removes what crashed pushes left behind; returns the removed names."""
    removed = []
    for name in (n.rstrip("/") for n in _gfile.listdir(model_base)):
        path = layout.join(model_base, name)
        orphan = False
        if name.startswith(".") and layout.INCOMPLETE_MARKER in name:
            orphan = _is_abandoned_staging(model_base, name)
        elif (layout.parse_version(name) is not None
              and _gfile.exists(layout.join(path, layout.META_DIR))
              and layout.read_manifest(path) is None):
            # Remote versions are written in place (no staging dir); ours
            # start with lineage.json, so its age is the push's age.
            lineage = layout.join(path, layout.LINEAGE_FILE)
            orphan = (not is_local(model_base) and _gfile.exists(lineage)
                      and _age_seconds(lineage) > STALE_REMOTE_SECONDS)
        if orphan:
            logging.warning("Removing %s, left behind by a crashed push.",
                            path)
            _gfile.rmtree(path)
            removed.append(name)
    return removed


def newest_complete(model_base: str) -> Optional[tuple[int, dict]]:
    """(version, manifest) of the newest complete version, or None."""
    version = layout.newest_complete_version(model_base)
    if version is None:
        return None
    return version, layout.read_manifest(layout.version_dir(model_base, version))
