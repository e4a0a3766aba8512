"""Shared pytest configuration: helpers shared by every tier (``plot_audit``) are
importable from any test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
