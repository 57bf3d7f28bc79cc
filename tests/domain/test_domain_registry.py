from __future__ import annotations

import pytest

from labtrust_gym.domain import get_domain_adapter_factory, list_domains, register_domain
from labtrust_gym.engine import LabEngine
from labtrust_gym.errors import RegistryError, UnknownIdError


def test_hospital_lab_is_the_engine() -> None:
    assert "hospital_lab" in list_domains()
    adapter = get_domain_adapter_factory("hospital_lab")(None, {})
    assert isinstance(adapter, LabEngine)
    adapter.reset({"specimens": [{"specimen_id": "S1", "panels": ["FBC"]}]}, seed=1)
    out = adapter.step(
        {
            "event_id": "e",
            "t_s": 0,
            "agent_id": "A_RECEPTION_01",
            "action_type": "ACCESSION",
            "args": {"specimen_id": "S1"},
        }
    )
    assert out["status"] == "ACCEPTED"
    assert adapter.query("specimen", "S1")["status"] == "ACCEPTED"


def test_duplicates_need_override_and_unknown_ids_list_known() -> None:
    with pytest.raises(RegistryError, match="already registered"):
        register_domain("hospital_lab", lambda w, c: None)
    with pytest.raises(UnknownIdError, match="hospital_lab"):
        get_domain_adapter_factory("space_station")
    register_domain("test_domain_x", lambda w, c: "adapter")
    assert get_domain_adapter_factory("test_domain_x")(None, None) == "adapter"
    register_domain("test_domain_x", lambda w, c: "v2", override=True, origin="test")
    assert get_domain_adapter_factory("test_domain_x")(None, None) == "v2"
