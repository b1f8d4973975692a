"""`tfx-prod keys init|rotate|retire|list`: the Ed25519 keys that sign pushes.

    DIR/private/<id>.pem   private keys (mode 0600): `tfx-prod run --signing-key`
    DIR/public/<id>.pub    trusted public keys: `tfx-prod serve
                           --trusted_signing_keys DIR/public` trusts them all
    DIR/retired/<id>.*     retired keys: no longer trusted by any server
    DIR/keys.json          which key is active, and when each was created

Rotating makes a new active key and keeps the old public key trusted, so
versions already pushed keep loading; retire the old key once nothing
signed by it is served. Servers re-read DIR/public on every load, so no
restart is needed. Keys never belong in the repo: the default DIR is under
tfx_prod_home/, which .gitignore excludes.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

from pipeline import configs
from serving import signing_keys

DEFAULT_DIR = os.path.join(configs.DEFAULT_HOME, "keys")
STATE_FILE = "keys.json"
ACTIVE, TRUSTED, RETIRED = "active", "trusted", "retired"
PUBLIC, PRIVATE = signing_keys.PUBLIC_KEY_SUFFIX, signing_keys.PRIVATE_KEY_SUFFIX

EPILOG = f"""\
examples:
  tfx-prod keys init                     # first key, in ./{DEFAULT_DIR}
  tfx-prod run --signing-key {DEFAULT_DIR}/private/<id>.pem
  tfx-prod serve --model_base_path=... --trusted_signing_keys={DEFAULT_DIR}/public
  tfx-prod keys rotate                   # new active key; the old one stays trusted
  tfx-prod keys retire <old id>          # stop trusting it
  tfx-prod keys list --json

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
            ("list", "every key: id, created, active/trusted/retired")):
        command = commands.add_parser(name, help=help_text,
                                      description=help_text)
        command.add_argument("--dir", default=DEFAULT_DIR,
                             help="key directory (default: ./%(default)s)")
        if name == "retire":
            command.add_argument("key_id", help="id from `tfx-prod keys list`")
        if name == "list":
            command.add_argument("--json", action="store_true",
                                 help="print JSON instead of a table")


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
    if _read_state(root) or os.path.isdir(os.path.join(root, "public")):
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


def retire(root: str, key_id: str) -> None:
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
            keys.append({"id": key_id, "status": status,
                         "created": state.get("created", {}).get(key_id),
                         "public": os.path.join(folder, name),
                         "private": private if os.path.exists(private)
                         else None})
    return sorted(keys, key=lambda k: (k["created"] or "", k["id"]))


def _print_created(root: str, key_id: str) -> None:
    print(f"created signing key {key_id} (active)\n"
          f"  private: {_path(root, 'private', key_id, PRIVATE)} (mode 0600: "
          "keep it secret, never commit it)\n"
          f"  public:  {_path(root, 'public', key_id, PUBLIC)}\n"
          f"sign pushes:  tfx-prod run --signing-key "
          f"{_path(root, 'private', key_id, PRIVATE)}\n"
          f"trust them:   tfx-prod serve ... --trusted_signing_keys="
          f"{os.path.join(root, 'public')}")


def main(args) -> int:
    root = args.dir
    try:
        if args.keys_command == "init":
            _print_created(root, init(root))
        elif args.keys_command == "rotate":
            old, new = rotate(root)
            _print_created(root, new)
            print(f"{old} stays trusted (versions it signed keep loading); "
                  f"`tfx-prod keys retire {old} --dir {root}` once none is "
                  "served")
        elif args.keys_command == "retire":
            retire(root, args.key_id)
            print(f"retired {args.key_id}: servers trusting "
                  f"{os.path.join(root, 'public')} refuse versions it signed "
                  "from their next load")
        else:
            keys = list_keys(root)
            if args.json:
                print(json.dumps(keys, indent=1))
            elif not keys:
                print(f"no keys in {root}; `tfx-prod keys init` makes one")
            else:
                print(f"{'ID':16}  {'STATUS':8}  {'CREATED':25}  PRIVATE KEY")
                for key in keys:
                    print(f"{key['id']:16}  {key['status']:8}  "
                          f"{key['created'] or '?':25}  "
                          f"{key['private'] or '-'}")
    except KeysError as e:
        print(f"tfx-prod keys: error: {e}", file=sys.stderr)
        return 2
    return 0
