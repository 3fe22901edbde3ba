import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # 2 cores are shared; build_workload sets torch's threads process-wide, so restore them after.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
