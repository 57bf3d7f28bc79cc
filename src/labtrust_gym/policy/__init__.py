"""Policy as data: loading, validation and the typed bundle the engine compiles."""

from labtrust_gym.policy.loader import POLICY_FILES, PolicyBundle, load_policy, load_yaml

__all__ = ["POLICY_FILES", "PolicyBundle", "load_policy", "load_yaml"]
