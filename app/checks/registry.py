"""The checks the engine can run, built from the loaded lexicons' settings."""

from __future__ import annotations

from app.checks.ecig import ECigaretteCheck
from app.matching import Lexicon


def available_checks(lexicons: dict[str, Lexicon]) -> list:
    """Instantiate every check whose lexicon families are loaded."""
    checks = []
    if "e_cigarette" in lexicons:
        settings = lexicons["e_cigarette"].settings
        checks.append(ECigaretteCheck(str(settings["designated_category"])))
    return checks
