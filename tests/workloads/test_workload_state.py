import msgpack
import pytest
import torch

from raybench.workloads._state import decode, encode


def _roundtrip(obj):
    return decode(msgpack.unpackb(msgpack.packb(encode(obj))))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                   torch.int64, torch.uint8, torch.bool])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_tensor_roundtrip_is_bit_exact(dtype, shape):
    t = (torch.randn(shape) * 100).to(dtype)
    back = _roundtrip(t)
    assert back.dtype == dtype and back.shape == t.shape
    assert torch.equal(back, t)


def test_non_contiguous_tensor():
    t = torch.arange(12.0).reshape(3, 4).T
    assert torch.equal(_roundtrip(t), t)


def test_tuples_int_keys_and_marker_like_keys_survive():
    tree = {"state": {0: {"step": torch.tensor(3.0)}}, "groups": [{"betas": (0.9, 0.999), "foreach": None}],
            "__tuple__": "a user key that looks like a marker"}
    back = _roundtrip(tree)
    assert back["groups"][0]["betas"] == (0.9, 0.999)
    assert back["groups"][0]["foreach"] is None
    assert torch.equal(back["state"][0]["step"], torch.tensor(3.0))
    assert back["__tuple__"] == tree["__tuple__"]


def test_unknown_objects_are_refused_not_pickled():
    with pytest.raises(TypeError, match="without pickle"):
        encode({"x": object()})
