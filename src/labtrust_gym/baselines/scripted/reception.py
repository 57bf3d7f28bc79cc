"""Reception: accessioning of arriving tubes."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import RoleAgent, act
from labtrust_gym.baselines.scripted.view import StepView

__all__ = ["Reception"]


class Reception(RoleAgent):
    """Accessions ARRIVED tubes at its reception desk, STAT first, then oldest first.

    The acceptance rules run inside the engine (the hidden state of a tube is never
    looked at); held tubes are left to the supervisor.
    """

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:
        z = a.zone
        if v.st.zone_kind[z] != "reception":
            return self.go_home(v, z)
        for s in v.sorted_arrived(z):
            if v.claim(s.specimen_id):
                return act("ACCESSION", specimen_id=s.specimen_id)
        return None if z == self.home or v.arrived.get(z) else self.go_home(v, z)
