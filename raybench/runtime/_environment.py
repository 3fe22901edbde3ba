"""What a run ran on, for its experiment_start event: versions, host and git revision."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from typing import Any, Optional


def environment() -> dict[str, Any]:
    """What the run ran on: versions, host and git revision."""
    from importlib.metadata import PackageNotFoundError, version

    import raybench

    def v(name: str) -> Optional[str]:
        try:
            return version(name)  # not `import torch`: that alone costs a second
        except PackageNotFoundError:
            return None

    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(os.path.abspath(raybench.__file__))).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname(),
            "raybench": raybench.__version__, "ray": v("ray"), "torch": v("torch"), "numpy": v("numpy"),
            "git": git}
