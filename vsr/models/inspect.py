"""The former name of `vsr.models.checkpoint` (it read like the standard library's `inspect`).

Kept only for the imports not moved yet: vsr/metrics/cost.py and tests/test_engine_workers.py.
"""

from vsr.models.checkpoint import ArchSpec, extract_state_dict, infer_arch, load_model, read_checkpoint

__all__ = ["ArchSpec", "extract_state_dict", "infer_arch", "load_model", "read_checkpoint"]
