"""The checks the engine can run, built from the loaded lexicons' settings."""

from __future__ import annotations

from app.checks.chem import ChemicalCheck
from app.checks.ecig import ECigaretteCheck
from app.checks.instruments import InstrumentCheck
from app.config import Settings
from app.matching import Lexicon
from app.normalization import Normalizer
from app.policy import Policy


def available_checks(lexicons: dict[str, Lexicon], settings: Settings, policy: Policy,
                     normalizer: Normalizer) -> list:
    """Instantiate every check whose data (lexicon family, lists) is loaded. Numbers the policy owns
    (instrument class points) are read from the policy, never repeated in a lexicon."""
    checks = []
    if "e_cigarette" in lexicons:
        ecig = lexicons["e_cigarette"].settings
        checks.append(ECigaretteCheck(str(ecig["designated_category"])))
    if "controlled_instrument" in lexicons:
        instr = lexicons["controlled_instrument"].settings
        points = {n: policy.rule(f"instrument.class{n}").points for n in range(1, 6)}
        checks.append(InstrumentCheck(points, instr.get("pointed_blade_mm", 150), instr.get("any_blade_mm", 220)))
    # hazardous chemicals: driven by the CAS lists (cas_lists/, built by scripts/build_cas_lists.py)
    lists_dir = settings.cas_lists_path
    if (lists_dir / "prohibited.csv").is_file() and (lists_dir / "restricted.csv").is_file():
        checks.append(ChemicalCheck(lists_dir, normalizer=normalizer))
    return checks
