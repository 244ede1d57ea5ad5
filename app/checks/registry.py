"""The checks the engine can run, built from the loaded lexicons' settings."""

from __future__ import annotations

from app.checks.chem import ChemicalCheck
from app.checks.ecig import ECigaretteCheck
from app.checks.epidemic import EpidemicCheck
from app.checks.instruments import InstrumentCheck
from app.checks.meddev import MedicalDeviceCheck
from app.checks.live import LiveCheck
from app.checks.sexual_health import SexualHealthCheck
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
    if "sexual_health_drug" in lexicons:
        sh = lexicons["sexual_health_drug"].settings
        checks.append(SexualHealthCheck(settings.lexicon_path / str(sh["ingredient_table"]), normalizer,
                                        list(sh.get("cas_bare_categories", []))))
    if "live_animals_plants" in lexicons:
        checks.append(LiveCheck(lexicons["live_animals_plants"].settings))
    if "epidemic_prevention" in lexicons:
        checks.append(EpidemicCheck())
    # medical devices: the lexicon's settings and the FDA product codes (devices/, scripts/build_devices.py)
    if "medical_device" in lexicons and settings.devices_file.is_file():
        checks.append(MedicalDeviceCheck(settings.devices_file, lexicons["medical_device"].settings))
    # hazardous chemicals: driven by the CAS lists (cas_lists/, built by scripts/build_cas_lists.py)
    lists_dir = settings.cas_lists_path
    if (lists_dir / "prohibited.csv").is_file() and (lists_dir / "restricted.csv").is_file():
        checks.append(ChemicalCheck(lists_dir, normalizer=normalizer))
    # the text classifier (issue 7): the model file the policy names, verified against its sha256;
    # a missing or different file stops the start-up (MODERATE_CLASSIFIER=off runs without it)
    if settings.classifier and policy.classifier is not None:
        from app.classifier.check import ClassifierCheck, load_verified

        cfg = policy.classifier
        model = load_verified(settings.models_path / cfg.model, cfg.sha256)
        checks.append(ClassifierCheck(model, cfg.categories, cfg.sha256, cfg.top_ngrams, policy))
    return checks
