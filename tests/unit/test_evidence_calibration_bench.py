"""bench/evidence_calibration.py: the packaged fit's split is what `reproduce` builds, and the
held-out files share no design variant with the training files."""

from __future__ import annotations

from stream_guard.core.evidence import EvidenceWeights

import evidence_calibration as cal


def _variants(options: list[str]) -> dict[str, set[str]]:
    return {options[i][2:]: set(options[i + 1].split(",")) for i in range(len(options) - 1)
            if options[i].endswith("-variant")}


def test_the_packaged_weights_record_the_files_reproduce_fits_on() -> None:
    recorded = EvidenceWeights.load().fitted_on["loadgen"]
    assert recorded == {name: " ".join(options) for name, options in cal.TRAINING.items()}


def test_held_out_design_variants_were_never_fitted_on() -> None:
    trained: dict[str, set[str]] = {}
    for options in cal.TRAINING.values():
        for design, names in _variants(options).items():
            trained.setdefault(design, set()).update(names)
    designs_held_out = [o for o in cal.HELD_OUT_FILES.values() if "designs" in o]
    assert designs_held_out
    for options in designs_held_out:
        held = _variants(options)
        assert held.keys() == trained.keys()  # every design's variant named on both sides
        assert all(not (held[d] & trained[d]) for d in held), (held, trained)
