import pytest
import torch

from robustness.errors import UserError
from robustness.models.device import Accelerator, resolve_device, resolve_dtype

CPU_ONLY = Accelerator(cuda_devices=0, cuda_bf16=False)
AMPERE = Accelerator(cuda_devices=2, cuda_bf16=True)
VOLTA = Accelerator(cuda_devices=1, cuda_bf16=False)


def test_auto_device_prefers_cuda() -> None:
    assert resolve_device("auto", CPU_ONLY) == torch.device("cpu")
    assert resolve_device("auto", AMPERE) == torch.device("cuda:0")
    assert resolve_device("cuda:1", AMPERE) == torch.device("cuda:1")
    assert resolve_device("CPU", AMPERE) == torch.device("cpu")


@pytest.mark.parametrize(
    ("spec", "accel", "message"),
    [
        ("cuda", CPU_ONLY, "CUDA is not available"),
        ("cuda:2", AMPERE, "has 2 CUDA device"),
        ("cuda:x", AMPERE, "unknown device"),
        ("cuda:-1", AMPERE, "unknown device 'cuda:-1'"),
        ("tpu", CPU_ONLY, "unknown device 'tpu'"),
    ],
)
def test_bad_device_is_a_user_error(spec: str, accel: Accelerator, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resolve_device(spec, accel)


def test_dtype_policy() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda:0")
    assert resolve_dtype("auto", cpu, AMPERE) is torch.float32
    assert resolve_dtype("auto", gpu, AMPERE) is torch.bfloat16
    assert resolve_dtype("auto", gpu, VOLTA) is torch.float16
    assert resolve_dtype("bf16", cpu, CPU_ONLY) is torch.bfloat16
    assert resolve_dtype("float32", gpu, AMPERE) is torch.float32
    with pytest.raises(UserError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", cpu, CPU_ONLY)


def test_default_batch_size_by_device_and_model_size() -> None:
    from robustness.models.backend import default_batch_size

    assert default_batch_size(torch.device("cpu")) == 16
    assert default_batch_size(torch.device("cpu"), 134_515_008) == 16
    assert default_batch_size(torch.device("cuda:0")) == 64  # size unknown: the large-model choice
    assert default_batch_size(torch.device("cuda:0"), 134_515_008) == 256
    assert default_batch_size(torch.device("cuda:0"), 13_015_864_320) == 64
