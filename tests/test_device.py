"""`animegan.device`: what --device/--precision auto resolve to, with the CPU feature probe both ways."""

from __future__ import annotations

import pytest
import torch

from animegan import device
from animegan.errors import DeviceError


@pytest.mark.parametrize(("flags", "cls", "fast"), [
    ("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "amx", True),  # Xeon Sapphire Rapids: measured
    ("fpu avx2 avx512f avx512_vnni avx512_bf16", "avx512_bf16", True),  # EPYC Zen 4: measured
    ("fpu avx2 avx512f avx512_vnni", "avx512", False),  # Cascade Lake: not measured, exact fp32
    ("fpu avx2 fma", "avx2", False),
    ("fpu neon asimd", "other", False),
])
def test_auto_precision_follows_the_measured_table_by_cpu_flags(monkeypatch, tmp_path, flags, cls, fast) -> None:
    import builtins

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: real_open(cpuinfo if f == "/proc/cpuinfo" else f, *a, **k))
    assert device.cpu_class() == cls
    assert device.cpu_has_fast_bf16() is fast
    row = device.MEASURED_SPEED.get(cls)
    assert (row is not None and float(row["bf16"]) > float(row["fp32"])) is fast  # decided by the table
    assert device.resolve_policy("cpu", "auto").precision == ("bf16" if fast else "fp32")


def test_every_measured_row_names_its_recorded_benchmark() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for cls, row in device.MEASURED_SPEED.items():
        recorded = root / str(row["source"]).split(" ")[0]
        if recorded.parent.is_dir():  # a checkout (the installed package has no benchmarks/)
            assert recorded.is_file(), (cls, recorded)
            text = recorded.read_text()
            for path, key in (("bf16", "| torch-bf16-cl | 512² |"), ("int8", "| ort-int8-static | 512² |")):
                line = next(line for line in text.splitlines() if line.startswith(key))
                assert f"| {float(row[path]):.2f} |" in line, (cls, path, line)


@pytest.mark.parametrize(("capability", "cls"), [("AMX", "amx"), ("AVX512", "avx512"), ("AVX2", "avx2"),
                                                 ("DEFAULT", "other")])
def test_without_cpu_flags_torchs_capability_gives_the_class(monkeypatch, capability, cls) -> None:
    import builtins

    real_open = builtins.open

    def no_cpuinfo(f, *a, **k):
        if f == "/proc/cpuinfo":
            raise FileNotFoundError(f)
        return real_open(f, *a, **k)

    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert device.cpu_class() == cls


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
