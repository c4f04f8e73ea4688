"""`animegan.device`: what --device/--precision auto resolve to, with the CPU feature probe both ways."""

from __future__ import annotations

import pytest
import torch

from animegan import device
from animegan.errors import DeviceError


@pytest.mark.parametrize(("capability", "fast"), [
    ("AMX", True), ("AVX512_BF16", True), ("AVX512", True), ("AVX512_VNNI", True),
    ("AVX2", False), ("DEFAULT", False), ("NO AVX", False),
])
def test_cpu_has_fast_bf16_reads_torchs_cpu_capability(monkeypatch, capability, fast) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert device.cpu_has_fast_bf16() is fast


def test_auto_on_a_bf16_capable_cpu_is_bf16_channels_last(monkeypatch) -> None:
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: True)
    policy = device.resolve_policy("cpu", "auto")
    assert (policy.device.type, policy.dtype, policy.channels_last) == ("cpu", torch.bfloat16, True)
    assert policy.describe() == "cpu bf16 channels_last"
    assert device.resolve_policy("cpu", None).dtype == torch.bfloat16  # no flag at all is auto


def test_auto_on_a_cpu_without_fast_bf16_is_exact_fp32_layout_kept(monkeypatch) -> None:
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: False)
    policy = device.resolve_policy("cpu", "auto")
    assert (policy.dtype, policy.channels_last) == (torch.float32, True)
    assert policy.precision == "fp32"


@pytest.mark.parametrize("fast", [True, False])
def test_explicit_precisions_ignore_the_probe(monkeypatch, fast) -> None:
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: fast)
    exact = device.resolve_policy("cpu", "fp32")
    assert (exact.dtype, exact.channels_last) == (torch.float32, False)  # a bare NCHW forward
    assert device.resolve_policy("cpu", "BF16").dtype == torch.bfloat16
    with pytest.raises(DeviceError, match="fp16 runs only on CUDA"):
        device.resolve_policy("cpu", "fp16")
    with pytest.raises(DeviceError, match="^precision int4: unknown") as info:
        device.resolve_policy("cpu", "int4")
    assert info.value.as_flag().startswith("--precision int4: unknown")  # the CLI says it as its flag


def test_auto_device_is_cpu_without_cuda_and_asking_for_cuda_is_an_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve_device("auto").type == "cpu"
    with pytest.raises(DeviceError, match="no CUDA device"):
        device.resolve_device("cuda")
    with pytest.raises(DeviceError, match="^device tpu: unknown") as info:
        device.resolve_device("tpu")
    assert info.value.as_flag().startswith("--device tpu: unknown")
