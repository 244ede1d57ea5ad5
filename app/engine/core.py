from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.checks import PreparedListing, available_checks
from app.config import Settings
from app.matching import FieldText, Lexicon, Matcher, load_lexicon
from app.models import Decision, Listing
from app.models.decision import Points
from app.normalization import Normalizer
from app.policy import Policy, decide, load_policy


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    policy: Policy
    lexicons: dict[str, Lexicon]
    normalizer: Normalizer
    matcher: Matcher
    checks: tuple
    digests: dict[str, str]
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> str:
        return self.policy.version

    def active_rule_ids(self) -> set[str]:
        ids = {rid for c in self.checks for rid in c.rule_ids}
        if ids:
            ids |= {self.policy.circumvention.keyword_distortion, self.policy.circumvention.misplaced_category}
        return ids


def build_snapshot(settings: Settings | None = None, normalizer: Normalizer | None = None) -> Snapshot:
    """Load and validate every data file and compile the automata. Raises ``ValueError`` naming the
    file when anything is inconsistent."""
    settings = settings or Settings()
    root = settings.data_root
    policy = load_policy(settings.policy_path)
    lex_files = sorted(settings.lexicon_path.glob("*.yaml"))
    lexicons: dict[str, Lexicon] = {}
    for path in lex_files:
        lx = load_lexicon(path)
        if lx.family in lexicons:
            raise ValueError(f"{path.name}: family {lx.family!r} is defined twice")
        lexicons[lx.family] = lx
    normalizer = normalizer or Normalizer()
    checks = tuple(available_checks(lexicons, settings, policy, normalizer))
    # checks with keys of their own (chemical names) share the automaton pass
    external = {c.name: c.automaton_keys() for c in checks if hasattr(c, "automaton_keys")}
    matcher = Matcher(list(lexicons.values()), normalizer, external)
    known = {r.id for r in policy.rules}
    for c in checks:
        missing = set(c.rule_ids) - known
        if missing:
            raise ValueError(f"{settings.policy_path.name}: lacks rules used by check {c.name}: {sorted(missing)}")

    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            return p.name

    digests = {rel(p): _sha256(p) for p in settings.data_files()}
    return Snapshot(policy, lexicons, normalizer, matcher, checks, digests)


def prepare(listing: Listing, snap: Snapshot) -> PreparedListing:
    norm = snap.normalizer.normalize
    fields = [FieldText("title", norm(listing.title), fuzzy=True)]
    if listing.description:
        fields.append(FieldText("description", norm(listing.description, html=True)))
    for i, kw in enumerate(listing.keywords):
        if kw:
            fields.append(FieldText(f"keywords[{i}]", norm(kw), fuzzy=True))
    for key, value in listing.attributes.items():
        fields.append(FieldText(f"attribute_key.{key}", norm(key)))
        if value:
            fields.append(FieldText(f"attributes.{key}", norm(value)))
    presets: dict[str, list[tuple[str, int]]] = {}
    if listing.category:
        # A category is chosen from the platform's taxonomy, not written: it is not searched for
        # terms (a review-site topic "Essential Oil Vape" is no vape), but a check may read it as
        # structured data (the designated e-cigarette category) and cite it as evidence.
        fields.append(FieldText("category", norm(listing.category), scan=False))
        for c in snap.checks:
            for fam, signals in getattr(c, "category_signals", lambda _c: {})(listing.category).items():
                presets.setdefault(fam, []).extend((sig, len(fields) - 1) for sig in signals)
    item = PreparedListing(listing, fields)
    item.families = snap.matcher.scan(fields, presets)
    return item


class Engine:
    """Holds the current snapshot; thread-safe swap on :meth:`reload`."""

    def __init__(self, settings: Settings | None = None, snapshot: Snapshot | None = None):
        self.settings = settings or Settings()
        self._lock = threading.Lock()
        self._snapshot = snapshot or build_snapshot(self.settings)
        self.reloads = 0

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def reload(self) -> Snapshot:
        """Build a new snapshot from the files; on any error the old snapshot stays in place."""
        with self._lock:
            new = build_snapshot(self.settings, normalizer=self._snapshot.normalizer)
            self._snapshot = new
            self.reloads += 1
            return new

    def findings(self, listing: Listing, snap: Snapshot | None = None):
        snap = snap or self._snapshot
        item = prepare(listing, snap)
        return [f for c in snap.checks for f in c.run(item)]

    def moderate(self, listing: Listing, as_of: dt.date | None = None, snap: Snapshot | None = None) -> Decision:
        snap = snap or self._snapshot  # one snapshot for the whole request
        if as_of is not None and as_of != listing.as_of:
            listing = listing.model_copy(update={"as_of": as_of})  # checks read dates from the listing
        as_of = listing.as_of or dt.datetime.now(dt.timezone.utc).date()
        core = decide(self.findings(listing, snap), listing, snap.policy, as_of)
        if type(as_of) is not dt.date:  # a datetime (a caller's as_of is not validated): let the model say
            return Decision(
                listing_id=listing.listing_id,
                action=core.action,
                masked_regions=list(core.masked_regions),
                restrictions=list(core.restrictions),
                review=core.review,
                violations=list(core.violations),
                points=core.points,
                policy_version=snap.version,
                decision_id=new_decision_id(),
                as_of=as_of,
                data_digests=dict(snap.digests),
            )
        # every value below is the engine's own (a validated listing and policy, decide()'s result):
        # built without validating it again, equal to the Decision(...) above (tests/test_post_scan_fast.py)
        points = core.points
        return _trusted_decision(listing.listing_id, core.action, list(core.masked_regions), list(core.restrictions),
                                 core.review, list(core.violations), _trusted_points(points["A"], points["B"]),
                                 snap.policy.version, new_decision_id(), as_of, dict(snap.digests))


_trusted_decision = Decision.trusted
_trusted_points = Points.trusted


def new_decision_id(raw: bytes | None = None) -> str:
    """``"dec_" + uuid.uuid4().hex`` without building a UUID object: 16 random bytes with the
    version (4) and variant (RFC 4122) bits set as ``uuid.UUID(bytes=raw, version=4)`` sets them."""
    b = bytearray(raw if raw is not None else _urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return "dec_" + b.hex()


_urandom = os.urandom
