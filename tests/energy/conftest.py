import logging

import pytest

from raybench.energy import clear_probes
from raybench.energy._log import forget_said


@pytest.fixture(autouse=True)
def _fresh_probes_and_messages():
    # Probes and "say once" are per process by design; each test starts from a clean process state.
    clear_probes()
    forget_said()
    yield
    clear_probes()
    forget_said()


@pytest.fixture
def energy_log(caplog):
    caplog.set_level(logging.INFO, logger="raybench.energy")
    return caplog
