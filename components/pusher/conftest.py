"""Fixtures of the Pusher's tests (helpers: components/pusher/testing.py)."""
import uuid

import pytest

from components.pusher.testing import write_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    return {factor: write_model(str(root / f"model_{factor}"), factor)
            for factor in (2, 3, 5)}


@pytest.fixture(scope="module")
def remote_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer_remote")
    return {factor: write_model(str(root / f"model_{factor}"), factor,
                                 remote_safe=True) for factor in (2, 3)}


@pytest.fixture
def ram_base():
    return f"ram://pusher_test_{uuid.uuid4().hex[:8]}/serving/taxi"
