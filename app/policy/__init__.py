"""The policy file and the pure function that turns findings into a decision."""

from app.policy.decide import DecisionCore, decide
from app.policy.model import CATEGORIES, SEVERITY, Policy, Rule, load_policy

__all__ = ["CATEGORIES", "SEVERITY", "DecisionCore", "Policy", "Rule", "decide", "load_policy"]
