"""Checks: independent, pure functions from a prepared listing to findings.

A check never calls another check. Each declares the rule ids it can emit (so ``/v1/policy`` can say
which rules are active) and the lexicon families it reads.
"""

from app.checks.base import Check, Finding, PreparedListing
from app.checks.registry import available_checks

__all__ = ["Check", "Finding", "PreparedListing", "available_checks"]
