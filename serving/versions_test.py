"""Version lifecycle with real SavedModel loads: only complete versions,
availability first, failed loads reported and never served, policies."""
import os
import shutil

import numpy as np
import pytest

from serving import layout, testutil
from serving.config import ModelConfig, VersionPolicy
from serving.servable import load_servable
from serving.status import ServingError
from serving.versions import ModelManager, State


def _load(name, version, path):
    return load_servable(name, version, path, runtime="savedmodel")


def _manager(base, policy=VersionPolicy(), labels=(), **kwargs):
    return ModelManager([ModelConfig("m", str(base), policy, labels)], _load,
                        max_load_retries=0, **kwargs)


def _version(base, version, b):
    module, signatures = testutil.half_plus_two(b=b)
    return testutil.write_version(str(base), version, module, signatures)


def _predict(manager, **spec):
    servable = manager.resolve("m", **spec)
    out = servable.runtime.run("serving_default",
                               {"x": np.array([2.0], np.float32)}, ("y",))
    return servable.version, float(out["y"][0])


def _states(manager):
    return [(s.version, State.Name(s.state)) for s in manager.statuses("m")]


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Three complete versions (b = 2, 3, 4) to copy into test dirs."""
    root = tmp_path_factory.mktemp("versions")
    for version, b in ((1, 2.0), (2, 3.0), (3, 4.0)):
        _version(root, version, b)
    return root


def _copy(versions, base, version):
    shutil.copytree(versions / str(version), base / str(version))


def test_new_version_loads_before_old_unloads(versions, tmp_path):
    _copy(versions, tmp_path, 1)
    manager = _manager(tmp_path)
    manager.poll_once()
    assert _predict(manager) == (1, 3.0)
    _copy(versions, tmp_path, 2)
    manager.poll_once()
    assert _predict(manager) == (2, 4.0)
    assert _states(manager) == [(2, "AVAILABLE"), (1, "END")]
    with pytest.raises(ServingError, match=r"Specific\(m, 1\)"):
        manager.resolve("m", version=1)


def test_incomplete_versions_are_never_loaded(versions, tmp_path):
    _copy(versions, tmp_path, 1)
    manager = _manager(tmp_path)
    manager.poll_once()
    # A push in progress: files copied, manifest not written yet.
    _copy(versions, tmp_path, 2)
    os.remove(tmp_path / "2" / layout.MANIFEST_FILE)
    # A push whose manifest lists a file that is not (fully) there.
    _copy(versions, tmp_path, 3)
    with open(tmp_path / "3" / "variables" / "variables.index", "ab") as f:
        f.write(b"partial")
    manager.poll_once()
    assert _predict(manager) == (1, 3.0)
    assert _states(manager) == [(1, "AVAILABLE")]
    layout.write_manifest(str(tmp_path / "2"))      # the push finishes
    manager.poll_once()
    assert _predict(manager) == (2, 4.0)


def test_failed_load_is_reported_and_old_version_keeps_serving(versions, tmp_path):
    _copy(versions, tmp_path, 1)
    manager = _manager(tmp_path)
    manager.poll_once()
    _copy(versions, tmp_path, 2)
    with open(tmp_path / "2" / "saved_model.pb", "wb") as f:
        f.write(b"not a SavedModel")
    layout.write_manifest(str(tmp_path / "2"))      # complete, but corrupt
    manager.poll_once()
    assert _predict(manager) == (1, 3.0)
    failed = manager.statuses("m", 2)[0]
    assert State.Name(failed.state) == "END" and failed.error_code.name == "UNKNOWN"
    assert failed.error_message
    assert manager.statuses("m", 1)[0].state == State.AVAILABLE
    with pytest.raises(ServingError):
        manager.resolve("m", version=2)
    manager.poll_once()      # no retries left: not loaded again
    assert manager.statuses("m", 2)[0].attempts == 1


def test_removed_version_is_unloaded(versions, tmp_path):
    for v in (1, 2):
        _copy(versions, tmp_path, v)
    manager = _manager(tmp_path, VersionPolicy("all"))
    manager.poll_once()
    assert _states(manager) == [(2, "AVAILABLE"), (1, "AVAILABLE")]
    shutil.rmtree(tmp_path / "2")
    manager.poll_once()
    assert _states(manager) == [(2, "END"), (1, "AVAILABLE")]
    assert _predict(manager) == (1, 3.0)


@pytest.mark.parametrize("policy,served", [
    (VersionPolicy("latest", num_versions=2), [2, 3]),
    (VersionPolicy("all"), [1, 2, 3]),
    (VersionPolicy("specific", versions=(1, 3)), [1, 3]),
])
def test_version_policies(versions, tmp_path, policy, served):
    for v in (1, 2, 3):
        _copy(versions, tmp_path, v)
    manager = _manager(tmp_path, policy)
    manager.poll_once()
    assert sorted(s.version for s in manager.served()) == served
    assert _predict(manager)[0] == served[-1]


def test_labels_route_and_need_an_available_version(versions, tmp_path):
    for v in (1, 2):
        _copy(versions, tmp_path, v)
    manager = _manager(tmp_path, VersionPolicy("all"),
                       (("stable", 1), ("canary", 2), ("future", 9)))
    manager.poll_once()
    assert _predict(manager, label="stable") == (1, 3.0)
    assert _predict(manager, label="canary") == (2, 4.0)
    with pytest.raises(ServingError, match="Unrecognized servable version label: x"):
        manager.resolve("m", label="x")
    with pytest.raises(ServingError, match=r"Specific\(m, 9\)"):
        manager.resolve("m", label="future")


def test_versions_without_manifest_need_the_flag(versions, tmp_path):
    _copy(versions, tmp_path, 1)
    os.remove(tmp_path / "1" / layout.MANIFEST_FILE)
    strict = _manager(tmp_path)
    strict.poll_once()
    with pytest.raises(ServingError, match=r"Latest\(m\)"):
        strict.resolve("m")
    relaxed = _manager(tmp_path, require_manifest=False)
    relaxed.poll_once()
    assert _predict(relaxed) == (1, 3.0)


def test_reload_config_replaces_models(versions, tmp_path):
    _copy(versions, tmp_path, 1)
    manager = _manager(tmp_path)
    manager.poll_once()
    manager.reload_config([ModelConfig("other", str(tmp_path))])
    with pytest.raises(ServingError, match=r"Latest\(m\)"):
        manager.resolve("m")
    assert manager.resolve("other").version == 1
