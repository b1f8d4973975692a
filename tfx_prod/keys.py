"""`tfx-prod keys init|rotate|retire|list|rewrap`: the Ed25519 keys that sign
pushes and (--encryption) the AES-256 keys that encrypt them at rest.

    DIR/private/<id>.pem   private keys (mode 0600): `tfx-prod run --signing-key`
    DIR/public/<id>.pub    trusted public keys: `tfx-prod serve
                           --trusted_signing_keys DIR/public` trusts them all
    DIR/retired/<id>.*     retired keys: no longer trusted by any server
    DIR/encryption/<id>.kek  AES key-encryption keys (mode 0600, secret on
                           both sides): `tfx-prod run --encryption-key`,
                           `tfx-prod serve --decryption_keys DIR/encryption`
    DIR/keys.json          which keys are active, and when each was created

Rotating makes a new active key and keeps the old public key trusted, so
versions already pushed keep loading; retire the old key once nothing
signed by it is served. Servers re-read DIR/public on every load, so no
restart is needed. Encryption keys rotate the same way, plus `rewrap`:
it re-wraps every version's data key with the active KEK (file bodies are
untouched), after which the old KEK can be retired. Keys never belong in
the repo: the default DIR is under tfx_prod_home/, which .gitignore
excludes.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

from pipeline import configs
from serving import encryption_keys, signing_keys

DEFAULT_DIR = os.path.join(configs.DEFAULT_HOME, "keys")
STATE_FILE = "keys.json"
ACTIVE, TRUSTED, RETIRED = "active", "trusted", "retired"
PUBLIC, PRIVATE = signing_keys.PUBLIC_KEY_SUFFIX, signing_keys.PRIVATE_KEY_SUFFIX
KEK, ENCRYPTION = encryption_keys.KEY_SUFFIX, "encryption"
ACTIVE_KEK = "active_encryption"   # keys.json: the active KEK's id

EPILOG = f"""\
examples:
  tfx-prod keys init                     # first key, in ./{DEFAULT_DIR}
  tfx-prod run --signing-key {DEFAULT_DIR}/private/<id>.pem
  tfx-prod serve --model_base_path=... --trusted_signing_keys={DEFAULT_DIR}/public
  tfx-prod keys rotate                   # new active key; the old one stays trusted
  tfx-prod keys retire <old id>          # stop trusting it
  tfx-prod keys list --json
  tfx-prod keys init --encryption        # first AES key (encryption at rest)
  tfx-prod run --encryption-key {DEFAULT_DIR}/encryption/<id>.kek
  tfx-prod serve ... --decryption_keys={DEFAULT_DIR}/encryption
  tfx-prod keys rotate --encryption      # new active KEK; the old one still decrypts
  tfx-prod keys rewrap --model_base_path=DIR   # re-wrap every version with it
  tfx-prod keys retire <old KEK id> --model_base_path=DIR  # refuses while in use

On Kubernetes, mount the private key as a Secret and point
TFX_PROD_SIGNING_KEY at it; mount DIR/public for the server."""


class KeysError(Exception):
    """A refused keys command; the message says what to do instead."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    commands = parser.add_subparsers(dest="keys_command", required=True,
                                     metavar="COMMAND")
    for name, help_text in (
            ("init", "make the first signing key (refuses to overwrite)"),
            ("rotate", "make a new active key; the old one stays trusted"),
            ("retire", "stop trusting a key (moves it to DIR/retired/)"),
            ("list", "every key: id, created, active/trusted/retired"),
            ("rewrap", "re-wrap every version's data key with the active "
                       "encryption key (no re-encryption)")):
        command = commands.add_parser(name, help=help_text,
                                      description=help_text)
        command.add_argument("--dir", default=DEFAULT_DIR,
                             help="key directory (default: ./%(default)s)")
        if name == "retire":
            command.add_argument("key_id", help="id from `tfx-prod keys list`")
            command.add_argument(
                "--model_base_path", action="append", default=[],
                metavar="DIR", help="encryption key: refuse while a version "
                                    "here is still wrapped with it; "
                                    "repeatable")
        if name == "list":
            command.add_argument("--json", action="store_true",
                                 help="print JSON instead of a table")
        if name in ("init", "rotate"):
            command.add_argument("--encryption", action="store_true",
                                 help="an AES-256 encryption key (KEK) "
                                      "instead of a signing key")
        if name == "rewrap":
            command.add_argument("--model_base_path", action="append",
                                 required=True, metavar="DIR",
                                 help="model base (numbered versions); "
                                      "repeatable")


def _path(root, status_dir, key_id, suffix):
    return os.path.join(root, status_dir, f"{key_id}{suffix}")


def _write_new(path: str, data: bytes, mode: int) -> None:
    """Atomically creates `path`; refuses if it exists (link(2) never
    replaces), so a crash leaves no half-written key under the name."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _read_state(root: str) -> dict:
    try:
        with open(os.path.join(root, STATE_FILE)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _write_state(root: str, state: dict) -> None:
    path = os.path.join(root, STATE_FILE)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def _new_key(root: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate()
    key_id = signing_keys.key_id(key.public_key())
    _write_new(_path(root, "private", key_id, PRIVATE),
               signing_keys.private_pem(key), 0o600)
    _write_new(_path(root, "public", key_id, PUBLIC),
               signing_keys.public_pem(key.public_key()), 0o644)
    state = _read_state(root)
    state.setdefault("created", {})[key_id] = datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds")
    state["active"] = key_id
    _write_state(root, state)
    return key_id


def _warn_if_tracked_by_git(root: str) -> None:
    """Keys must never be committed: say so if `root` is not git-ignored."""
    try:
        result = subprocess.run(["git", "check-ignore", "-q", root],
                                cwd=os.path.dirname(os.path.abspath(root)),
                                capture_output=True)
    except OSError:
        return
    if result.returncode == 1:  # in a work tree, and not ignored
        print(f"warning: {root} is inside a git work tree and not ignored; "
              "add it to .gitignore so keys are never committed",
              file=sys.stderr)


def init(root: str) -> str:
    if _read_state(root).get("active") or os.path.isdir(
            os.path.join(root, "public")):
        raise KeysError(f"{root} already holds signing keys; `tfx-prod keys "
                        "rotate` makes a new one, `tfx-prod keys list` shows "
                        "them")
    key_id = _new_key(root)
    _warn_if_tracked_by_git(root)
    return key_id


def rotate(root: str) -> tuple:
    old = _read_state(root).get("active")
    if old is None:
        raise KeysError(f"no active key in {root}: run `tfx-prod keys init "
                        f"--dir {root}` first")
    return old, _new_key(root)


def _new_kek(root: str) -> str:
    key = encryption_keys.new_key()
    key_id = encryption_keys.key_id(key)
    _write_new(_path(root, ENCRYPTION, key_id, KEK),
               encryption_keys.key_file_bytes(key), 0o600)
    state = _read_state(root)
    state.setdefault("created", {})[key_id] = datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds")
    state[ACTIVE_KEK] = key_id
    _write_state(root, state)
    return key_id


def init_encryption(root: str) -> str:
    if _read_state(root).get(ACTIVE_KEK):
        raise KeysError(f"{root} already holds encryption keys; `tfx-prod "
                        "keys rotate --encryption` makes a new one")
    key_id = _new_kek(root)
    _warn_if_tracked_by_git(root)
    return key_id


def rotate_encryption(root: str) -> tuple:
    old = _read_state(root).get(ACTIVE_KEK)
    if old is None:
        raise KeysError(f"no active encryption key in {root}: run `tfx-prod "
                        f"keys init --encryption --dir {root}` first")
    return old, _new_kek(root)


def rewrap(root: str, model_bases: list) -> list:
    """Re-wraps every version under `model_bases` with the active KEK, using
    any non-retired KEK to unwrap; [(base, version, old id or '')]."""
    from serving import encryption
    active = _read_state(root).get(ACTIVE_KEK)
    folder = os.path.join(root, ENCRYPTION)
    if active is None or not os.path.isdir(folder):
        raise KeysError(f"no active encryption key in {root}: run `tfx-prod "
                        f"keys init --encryption --dir {root}` first")
    keys = encryption.load_keys(folder)
    done = []
    for base in model_bases:
        try:
            done += [(base, version, old) for version, old in
                     encryption.rewrap_model_base(base, keys, active,
                                                  keys[active])]
        except encryption.EncryptionError as e:
            raise KeysError(f"{base}: {e}; nothing after it was "
                            "re-wrapped") from None
    return done


def _retire_encryption(root: str, key_id: str, model_bases=()) -> None:
    if key_id == _read_state(root).get(ACTIVE_KEK):
        raise KeysError(f"{key_id} is the active encryption key; `tfx-prod "
                        "keys rotate --encryption` and `tfx-prod keys "
                        "rewrap` first, then retire it")
    if model_bases:
        from serving import encryption, layout
        for base in model_bases:
            for version in layout.version_numbers(base):
                envelope = encryption.read_envelope(
                    layout.version_dir(base, version))
                if envelope and envelope.get("key_id") == key_id:
                    raise KeysError(
                        f"{base}/{version} is still wrapped with {key_id}; "
                        f"`tfx-prod keys rewrap --model_base_path {base} "
                        f"--dir {root}` first")
    os.makedirs(os.path.join(root, RETIRED), exist_ok=True)
    os.rename(_path(root, ENCRYPTION, key_id, KEK),
              _path(root, RETIRED, key_id, KEK))


def retire(root: str, key_id: str, model_bases=()) -> None:
    if os.path.exists(_path(root, ENCRYPTION, key_id, KEK)):
        return _retire_encryption(root, key_id, model_bases)
    state = _read_state(root)
    if key_id == state.get("active"):
        raise KeysError(f"{key_id} is the active key; `tfx-prod keys rotate` "
                        "first, then retire it")
    public = _path(root, "public", key_id, PUBLIC)
    if not os.path.exists(public):
        raise KeysError(f"no trusted key {key_id} in {root}/public; "
                        "`tfx-prod keys list` shows the ids")
    os.makedirs(os.path.join(root, RETIRED), exist_ok=True)
    private = _path(root, "private", key_id, PRIVATE)
    if os.path.exists(private):
        os.rename(private, _path(root, RETIRED, key_id, PRIVATE))
    os.rename(public, _path(root, RETIRED, key_id, PUBLIC))


def list_keys(root: str) -> list:
    """[{id, created, status, public, private}], oldest first."""
    state = _read_state(root)
    keys = []
    for status_dir in ("public", RETIRED):
        folder = os.path.join(root, status_dir)
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        for name in (n for n in names if n.endswith(PUBLIC)):
            key_id = name[:-len(PUBLIC)]
            status = (RETIRED if status_dir == RETIRED else
                      ACTIVE if key_id == state.get("active") else TRUSTED)
            private = _path(root, "private" if status != RETIRED else RETIRED,
                            key_id, PRIVATE)
            keys.append({"id": key_id, "kind": "signing", "status": status,
                         "created": state.get("created", {}).get(key_id),
                         "public": os.path.join(folder, name),
                         "private": private if os.path.exists(private)
                         else None})
    for status_dir in (ENCRYPTION, RETIRED):
        folder = os.path.join(root, status_dir)
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        for name in (n for n in names if n.endswith(KEK)):
            key_id = name[:-len(KEK)]
            keys.append({"id": key_id, "kind": ENCRYPTION,
                         "status": RETIRED if status_dir == RETIRED else
                         ACTIVE if key_id == state.get(ACTIVE_KEK) else
                         TRUSTED,
                         "created": state.get("created", {}).get(key_id),
                         "key": os.path.join(folder, name)})
    return sorted(keys, key=lambda k: (k["created"] or "", k["id"]))


def _print_table(keys: list) -> None:
    signing = [k for k in keys if k.get("kind") != ENCRYPTION]
    keks = [k for k in keys if k.get("kind") == ENCRYPTION]
    for title, rows, column in (("PRIVATE KEY", signing, "private"),
                                ("ENCRYPTION KEY", keks, "key")):
        if rows:
            if rows is keks and signing:
                print()
            print(f"{'ID':16}  {'STATUS':8}  {'CREATED':25}  {title}")
        for key in rows:
            print(f"{key['id']:16}  {key['status']:8}  "
                  f"{key['created'] or '?':25}  {key[column] or '-'}")


def _print_created(root: str, key_id: str) -> None:
    print(f"created signing key {key_id} (active)\n"
          f"  private: {_path(root, 'private', key_id, PRIVATE)} (mode 0600: "
          "keep it secret, never commit it)\n"
          f"  public:  {_path(root, 'public', key_id, PUBLIC)}\n"
          f"sign pushes:  tfx-prod run --signing-key "
          f"{_path(root, 'private', key_id, PRIVATE)}\n"
          f"trust them:   tfx-prod serve ... --trusted_signing_keys="
          f"{os.path.join(root, 'public')}")


def _print_created_kek(root: str, key_id: str) -> None:
    path = _path(root, ENCRYPTION, key_id, KEK)
    print(f"created encryption key {key_id} (active)\n"
          f"  key: {path} (mode 0600: secret for the Pusher AND the servers; "
          "never commit it, keep a backup: without it its versions are "
          "lost)\n"
          f"encrypt pushes:  tfx-prod run --encryption-key {path}\n"
          f"decrypt them:    tfx-prod serve ... --decryption_keys="
          f"{os.path.join(root, ENCRYPTION)}")


def _main_encryption(args, root) -> None:
    if args.keys_command == "init":
        _print_created_kek(root, init_encryption(root))
        return
    old, new = rotate_encryption(root)
    _print_created_kek(root, new)
    print(f"{old} still decrypts; `tfx-prod keys rewrap --model_base_path "
          f"DIR --dir {root}` re-wraps every version with {new}, then "
          f"`tfx-prod keys retire {old} --dir {root}`")


def main(args) -> int:
    root = args.dir
    try:
        if getattr(args, "encryption", False):
            _main_encryption(args, root)
        elif args.keys_command == "rewrap":
            done = rewrap(root, args.model_base_path)
            for base, version, old in done:
                print(f"{base}/{version}: " + (
                    "not encrypted" if not old else f"re-wrapped (was {old})"
                    if old != _read_state(root)[ACTIVE_KEK] else "up to date"))
            print(f"{len([d for d in done if d[2]])} encrypted versions now "
                  f"use key {_read_state(root)[ACTIVE_KEK]}")
        elif args.keys_command == "init":
            _print_created(root, init(root))
        elif args.keys_command == "rotate":
            old, new = rotate(root)
            _print_created(root, new)
            print(f"{old} stays trusted (versions it signed keep loading); "
                  f"`tfx-prod keys retire {old} --dir {root}` once none is "
                  "served")
        elif args.keys_command == "retire":
            kek = os.path.exists(_path(root, ENCRYPTION, args.key_id, KEK))
            retire(root, args.key_id, args.model_base_path)
            print(f"retired {args.key_id}: " + (
                f"servers decrypting with {os.path.join(root, ENCRYPTION)} "
                "cannot load versions still wrapped with it (`tfx-prod keys "
                "rewrap` first)" if kek else
                f"servers trusting {os.path.join(root, 'public')} refuse "
                "versions it signed") + " from their next load")
        else:
            keys = list_keys(root)
            if args.json:
                print(json.dumps(keys, indent=1))
            elif not keys:
                print(f"no keys in {root}; `tfx-prod keys init` makes one")
            else:
                _print_table(keys)
    except KeysError as e:
        print(f"tfx-prod keys: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:   # encryption.KeyFileError: an unreadable .kek
        print(f"tfx-prod keys: error: {e}", file=sys.stderr)
        return 2
    return 0
