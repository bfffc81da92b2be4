"""Run fingerprints (air/fingerprint.py): stable hashes, strict parts, readable differences."""

import pytest

from air.fingerprint import ABSENT, FINGERPRINT_SCHEME, differing_fields, flatten, make_fingerprint


def test_hash_ignores_key_order_and_tuple_vs_list():
    a = make_fingerprint({"method": "air", "config": {"gamma": 0.7, "decoder": "decord"}, "ids": (1, 2)})
    b = make_fingerprint({"ids": [1, 2], "config": {"decoder": "decord", "gamma": 0.7}, "method": "air"})
    assert a == b and len(a["hash"]) == 16
    assert a["parts"]["scheme"] == FINGERPRINT_SCHEME and a["parts"]["ids"] == [1, 2]


@pytest.mark.parametrize("change", [{"gamma": 0.70001}, {"decoder": "pyav"}, {"new_field": None}])
def test_any_config_change_changes_the_hash(change):
    base = {"method": "air", "config": {"gamma": 0.7, "decoder": "decord"}}
    changed = {"method": "air", "config": {**base["config"], **change}}
    assert make_fingerprint(base)["hash"] != make_fingerprint(changed)["hash"]


def test_non_finite_or_non_json_parts_are_refused():
    with pytest.raises(ValueError, match="Invalid fingerprint parts"):
        make_fingerprint({"config": {"gamma": float("nan")}})
    with pytest.raises(ValueError, match="Invalid fingerprint parts"):
        make_fingerprint({"config": {"obj": object()}})


def test_differing_fields_name_dotted_paths_with_both_values():
    mine = {"method": "air", "config": {"gamma": 0.7, "max_rounds": 6}, "load": {}}
    theirs = {"method": "air", "config": {"gamma": 0.5}, "model": {"pretrained": "x"}}
    assert flatten(mine) == {"method": "air", "config.gamma": 0.7, "config.max_rounds": 6, "load": {}}
    assert differing_fields(mine, theirs) == {
        "config.gamma": (0.7, 0.5), "config.max_rounds": (6, ABSENT), "load": ({}, ABSENT),
        "model.pretrained": (ABSENT, "x")}
    assert differing_fields(mine, mine) == {}
