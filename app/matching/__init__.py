"""Lexicon files and the multi-pattern matcher (one Aho-Corasick automaton per view for all terms)."""

from app.matching.lexicon import Lexicon, Pattern, Term, load_lexicon
from app.matching.matcher import FamilyResult, FieldText, Hit, Matcher

__all__ = ["FamilyResult", "FieldText", "Hit", "Lexicon", "Matcher", "Pattern", "Term", "load_lexicon"]
