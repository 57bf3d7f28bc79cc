"""The verifier runs on the standard library and ``cryptography`` alone: proved in a fresh
interpreter, on a real bundle, through the ``python -m`` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("numpy", "yaml", "jsonschema", "orjson", "scipy", "gymnasium", "pettingzoo")
#: The only parts of the package the verifier may load.
ALLOWED_OWN = {
    "labtrust_gym",
    "labtrust_gym._version",
    "labtrust_gym.evidence",
    "labtrust_gym.evidence.bundle_format",
    "labtrust_gym.evidence.canonical",
    "labtrust_gym.evidence.crypto",
    "labtrust_gym.evidence.log_format",
    "labtrust_gym.evidence.logcheck",
    "labtrust_gym.evidence.recount",
    "labtrust_gym.evidence.verify",
}

_CHILD = """
import json, sys
before = set(sys.modules)
from labtrust_gym.evidence.verify import main
rc = main([{bundle!r}, "--trusted-key", {key!r}])
new = sorted(set(sys.modules) - before)
print(json.dumps({{"rc": rc, "new": new, "stdlib": sorted(sys.stdlib_module_names)}}))
"""


def test_verify_bundle_imports_only_stdlib_and_cryptography(
    bundle_master: Path, trusted_pub: str
) -> None:
    code = _CHILD.format(bundle=str(bundle_master), key=trusted_pub)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0  # the bundle verified in that process
    new = out["new"]
    stdlib = set(out["stdlib"])
    tops = {m.split(".")[0] for m in new}
    assert not tops & set(FORBIDDEN), sorted(tops & set(FORBIDDEN))
    own = {m for m in new if m.split(".")[0] == "labtrust_gym"}
    assert own <= ALLOWED_OWN, sorted(own - ALLOWED_OWN)
    third_party = {t for t in tops - stdlib if not t.startswith("_")}
    assert third_party <= {"cryptography", "labtrust_gym"}, sorted(third_party)
    assert "cryptography" in third_party  # (the test would be vacuous otherwise)
