"""Shared fixtures: the sample data set, made once per test session."""

import pytest

from spacenet.sample_data import make_sample_data


@pytest.fixture(scope="session")
def raw_uri(tmp_path_factory):
    """A folder holding spacenet/ with a few synthetic Vegas scenes."""
    out = tmp_path_factory.mktemp("raw")
    make_sample_data(out, num_scenes=6, size=256, seed=0)
    return str(out)
