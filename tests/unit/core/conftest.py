"""Fixtures shared by the core unit tests."""

import pytest
from core_tree_helpers import Tree


@pytest.fixture
def tree() -> Tree:
    return Tree()
