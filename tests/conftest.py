"""Shared test helpers: devices, dtypes and the torch oracle."""

from __future__ import annotations

import pytest
import torch

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
    ),
]

# float32 within 1e-5 and float64 within 1e-10, as the engine promises.
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def assert_close(actual, expected, dtype, what: str = "", equal_nan: bool = False) -> None:
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(
        actual.detach().cpu().to(torch.float64),
        expected.detach().cpu().to(torch.float64),
        atol=tol,
        rtol=tol,
        equal_nan=equal_nan,
        msg=lambda m: f"{what}: {m}",
    )


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how many of torch's OpInfo samples each op family passes (test_opinfo.py)."""
    from tests.opinfo_report import summary

    text = summary()
    if text:
        terminalreporter.write_sep("=", "OpInfo samples")
        terminalreporter.write_line(text)


@pytest.fixture
def torch_attention_math():
    """torch's attention by its math backend, where torch is the oracle of derivatives.

    For 4-D float inputs on the CPU torch picks its fused (flash) kernel, which has
    neither a double backward nor forward-mode AD; the math backend computes the
    same function with both. minigrad calls its own kernels and is not affected.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        yield
