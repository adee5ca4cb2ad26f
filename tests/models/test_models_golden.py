"""Every golden case from the authors' implementation is reproduced to 1e-5 in fp32, from the path alone."""

from __future__ import annotations

import json

import pytest
import torch

from vsr.models import load_model

from ..conftest import SHARED

CASES = json.loads((SHARED / "golden" / "cases.json").read_text()) if SHARED.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[c["case"].split("/")[-1] for c in CASES])
def test_golden_case_matches_reference(case):
    model, spec = load_model(SHARED / case["weights"])
    data = torch.load(SHARED / case["case"], weights_only=True)
    assert list(data["input"].shape) == case["input_shape"]
    with torch.inference_mode():
        out = model(data["input"])
    assert list(out.shape) == case["output_shape"]
    assert (out - data["output"]).abs().max().item() <= 1e-5


def test_golden_cases_cover_every_family():
    families = {load_model(SHARED / c["weights"])[1].family for c in CASES}
    assert families == {"safmn", "ntire23-safmn", "safmnpp", "safmnpp-light"}
