"""Reliability tests reuse the runtime tests' helpers (rb_helpers); `local_ray` comes from tests/conftest.py."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "runtime"))  # rb_helpers
