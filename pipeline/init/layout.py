"""Where a project's files go, refusing to overwrite one without --force.

DIR/
  tfx-prod.yaml          the project file
  schema/schema.pbtxt    the curated raw schema
  span-1/data.csv        the user's CSV, byte for byte
  init-backup-<UTC>/     with --force: what the new files replaced

Everything is written into a staging directory first and only placed once
all of it exists, so an error never leaves a half-written project. With
--force nothing is deleted: the old project file, schema and every span-N
folder are moved into init-backup-<UTC>/ (span folders too: CsvExampleGen
trains on the newest span, which must be the new data).
"""
import datetime
import pathlib
import shutil
from typing import Optional

from pipeline.init.errors import InitError

PROJECT_FILE = "tfx-prod.yaml"
SCHEMA_FILE = "schema/schema.pbtxt"
SPAN_CSV = "span-1/data.csv"


def existing(directory: pathlib.Path) -> list[pathlib.Path]:
    """What of a project is already in `directory`."""
    if not directory.is_dir():
        return []
    found = [directory / p for p in (PROJECT_FILE, SCHEMA_FILE)
             if (directory / p).exists()]
    return found + sorted(directory.glob("span-*"))


def check_target(directory: pathlib.Path, force: bool) -> None:
    """Raises before any work if `directory` cannot or must not be written."""
    if directory.exists() and not directory.is_dir():
        raise InitError(f"{directory} is a file; init needs a directory for "
                        f"the project (it creates it when missing)")
    found = existing(directory)
    if found and not force:
        names = ", ".join(str(p.relative_to(directory)) for p in found)
        raise InitError(
            f"{directory} already holds a project ({names}); nothing was "
            f"changed. Pass --force to write a new one (the old files move to "
            f"{directory}/init-backup-<time>/, nothing is deleted), or choose "
            f"another DIR")


def place(staging: pathlib.Path, directory: pathlib.Path,
          force: bool) -> Optional[pathlib.Path]:
    """Moves the staged files into `directory`; returns the backup, if any."""
    check_target(directory, force)
    backup = None
    found = existing(directory)
    if found:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y%m%dT%H%M%S%fZ")
        backup = directory / f"init-backup-{stamp}"
        for path in found:
            target = backup / path.relative_to(directory)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
    for relative in (SPAN_CSV, SCHEMA_FILE, PROJECT_FILE):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging / relative), str(target))
    return backup
