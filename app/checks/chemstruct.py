"""Chemical structures (SMILES, InChI, InChIKey) and molecular formulas, with RDKit.

A declared structure is parsed, split into fragments, counter-ions and solvents are stripped (a salt,
hydrate or solvate keeps its parent), each remaining fragment is neutralised, and the structure is
reduced to a set of **connectivity keys**: the first block (14 letters) of the standard InChIKey of

* the whole structure as written and its core (without water and solvent fragments; a one-fragment
  structure also neutralised): the **exact** keys;
* each parent fragment (a carbon-containing fragment that is not a counter-ion or solvent,
  neutralised, e.g. ``[Na+].[C-]#N`` -> ``C#N``): the **parent** keys.

Matching is in two tiers (:meth:`StructureIndex.lookup`): listed entries sharing an exact key are the
substance itself (sodium cyanide is 143-33-9, not every cyanide salt); only when there are none, entries
sharing any key with the declared structure's parents count (§3.4: "salts, hydrates and other forms
... count as the listed substance when the structure shows the same parent"). The first
InChIKey block ignores stereo, isotopes and protonation, so enantiomers and charged forms of one
skeleton match: a deliberate choice (the lists name substances, not stereoisomers).

Not split into parents: structures with a metal that is not an alkali or alkaline-earth counter-ion
(``K4[Fe(CN)6]`` is no cyanide) and structures without carbon (``NaCl`` is no hydrochloric acid):
those match on the whole / core key only. An InChIKey given alone is matched on its first block (its
parent cannot be computed from a key, so the key of a salt does not reach the parent).

The list side (``cas_lists/structures.csv``) is precomputed by ``scripts/build_cas_lists.py`` with the
same :func:`structure_keys`, so start-up reads a CSV and never parses a structure.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rdkit import Chem, rdBase
from rdkit.Chem import rdinchi
from rdkit.Chem.rdMolDescriptors import CalcMolFormula
from rdkit.Chem.MolStandardize import rdMolStandardize

INCHIKEY = re.compile(r"[A-Z]{14}-[A-Z]{10}-[A-Z]")
INCHIKEY_GATE = re.compile(r"-[A-Z]{10}-")   # literal-led: a fast first look before the full pattern
INCHIKEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9-])[A-Z]{14}-[A-Z]{10}-[A-Z](?![A-Za-z0-9-])")
INCHI_IN_TEXT = re.compile(r"InChI=1S?/[^\s;，；]*[^\s;，；.,:)\]]")  # commas belong to InChI layers
SMILES_LABEL = re.compile(r"\bSMILES\b[ \t]*(?:code|string)?[ \t]*[:：=]?[ \t]*", re.IGNORECASE)
SMILES_TOKEN = re.compile(r"[^\s,;，；]+")
_INCHI_PREFIX = re.compile(r"InChI=1S?/")

# Counter-ions and solvents of salt / hydrate / solvate forms (chemistry, not list data). A fragment
# equal to one of these is stripped only when another carbon-containing fragment remains.
COUNTER_IONS = (
    "Cl", "Br", "I", "F", "[Na]", "[K]", "[Li]", "[Ca]", "[Mg]", "N",      # halides, metals, ammonium
    "O=[N+]([O-])O", "OP(O)(O)=O", "OS(O)(=O)=O", "F[P-](F)(F)(F)(F)F", "F[B-](F)(F)F",
    "CS(=O)(=O)O", "Cc1ccc(S(=O)(=O)O)cc1", "OS(=O)(=O)c1ccccc1",         # mesylate, tosylate, besylate
    "CC(=O)O", "OC(=O)C(F)(F)F", "OC(=O)/C=C/C(=O)O", "OC(=O)/C=C\\C(=O)O", "OC(=O)C(=O)O",
    "OC(=O)C(O)C(O)C(=O)O", "OC(=O)CC(O)(CC(=O)O)C(=O)O", "OC(=O)CCC(=O)O", "CC(O)C(=O)O",
    "OC(=O)CC(O)C(=O)O", "OC(=O)c1ccccc1O",                                # malate, salicylate
)
SOLVENTS = ("O", "CCO", "CO", "CC(C)O", "CC(C)=O", "CS(C)=O", "ClCCl", "ClC(Cl)Cl", "CCOCC", "C1CCOC1")
_COUNTER_METALS = frozenset({"Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba"})
_NONMETALS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "As", "Se", "Br", "Te", "I",
                        "He", "Ne", "Ar", "Kr", "Xe", "Rn", "At", "Ge", "Sb"})

_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")
_FORMULA_PART = re.compile(r"^(\d*)((?:[A-Z][a-z]?\d*|\((?:[A-Z][a-z]?\d*)+\)\d*|\[(?:[A-Z][a-z]?\d*)+\]\d*)+)$")
_GROUP = re.compile(r"[(\[]((?:[A-Z][a-z]?\d*)+)[)\]](\d*)")
_FORMULA_SEP = re.compile(r"\s*[.·•∙⋅*]\s*")
_PLAIN_FORMULA = re.compile(r"(?:[A-Z][a-z]?[0-9]*)+")


def _elements() -> frozenset[str]:
    pt = Chem.GetPeriodicTable()
    return frozenset(pt.GetElementSymbol(i) for i in range(1, 119))


ELEMENTS = _elements()


@dataclass(frozen=True, slots=True)
class Parsed:
    """One declared structure: its connectivity keys, its formula (element counts, whole structure) or
    what is wrong with it."""

    kind: str                    # "SMILES" | "InChI" | "InChIKey"
    text: str
    keys: frozenset[str] = frozenset()      # exact keys
    parents: frozenset[str] = frozenset()   # parent keys
    formula: tuple[tuple[str, int], ...] | None = None
    problem: str | None = None


def _first_line_error(messages: str, fallback: str) -> str:
    lines = [re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", ln).strip() for ln in messages.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("~") and "Failed parsing SMILES" not in ln]
    for ln in lines:
        if "syntax error" in ln or "valence" in ln or "kekulize" in ln or "ring closure" in ln.lower():
            return ln.replace("SMILES Parse Error: ", "")
    return lines[0].replace("SMILES Parse Error: ", "") if lines else fallback


def _heavy_symbols(mol) -> list[str]:
    return [a.GetSymbol() for a in mol.GetAtoms()]


def _block(mol) -> str | None:
    with rdBase.BlockLogs():
        key = Chem.MolToInchiKey(mol)
    return key[:14] if key else None


_UNCHARGER = None
_STRIP: frozenset[str] | None = None
_SOLVENT_KEYS: frozenset[str] | None = None
_CHARGED = None   # SMARTS: an atom with a formal charge (one C++ call instead of a loop over atoms)


def _tables():
    global _UNCHARGER, _STRIP, _SOLVENT_KEYS, _CHARGED
    if _STRIP is None:
        _CHARGED = Chem.MolFromSmarts("[!+0]")
        _UNCHARGER = rdMolStandardize.Uncharger()
        _SOLVENT_KEYS = frozenset(_block(Chem.MolFromSmiles(s)) for s in SOLVENTS)
        _STRIP = frozenset(_block(Chem.MolFromSmiles(s)) for s in COUNTER_IONS) | _SOLVENT_KEYS
    return _UNCHARGER, _STRIP, _SOLVENT_KEYS


def mol_keys(mol) -> tuple[frozenset[str], frozenset[str]]:
    """(exact keys, parent keys) of a parsed molecule (see the module docstring)."""
    uncharger, strip, solvents = _tables()
    keys: set[str] = set()
    whole = _block(mol)
    if whole:
        keys.add(whole)
    if len(Chem.GetMolFrags(mol)) == 1 and not mol.HasSubstructMatch(_CHARGED):
        return frozenset(keys), frozenset(keys)  # one neutral fragment: the parent is itself
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) == 1:
        with rdBase.BlockLogs():
            k = _block(uncharger.uncharge(frags[0]))
        if k:
            keys.add(k)
        return frozenset(keys), frozenset({k} if k else ())
    with rdBase.BlockLogs():
        neutral = [uncharger.uncharge(f) for f in frags]
    fkeys = [_block(f) for f in neutral]
    core = [f for f, k in zip(frags, fkeys) if k not in solvents]
    if core and len(core) < len(frags):
        combined = core[0]
        for f in core[1:]:
            combined = Chem.CombineMols(combined, f)
        k = _block(combined)
        if k:
            keys.add(k)
    symbols = {s for f in frags for s in _heavy_symbols(f)}
    if any(s not in _NONMETALS and s not in _COUNTER_METALS for s in symbols):
        return frozenset(keys), frozenset()  # a metal complex / heavy-metal salt: exact keys only
    carbon = [(f, k) for f, k in zip(neutral, fkeys) if k and "C" in _heavy_symbols(f)]
    parents = [k for _, k in carbon if k not in strip] or [k for _, k in carbon]
    return frozenset(keys), frozenset(parents)


def _formula_of(mol) -> tuple[tuple[str, int], ...]:
    with rdBase.BlockLogs():
        return formula_counts(CalcMolFormula(mol)) or ()


_STRICT_VALENCE = frozenset({"H", "B", "C", "N", "O", "F"})


def _hypervalent(s: str):
    """A SMILES that RDKit rejects only for the valence of a heavier main-group atom (ClF5, HIO3,
    sulfuranes: PubChem writes them so) is read without the valence check; a pentavalent carbon or
    tetravalent oxygen stays an error."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(s, sanitize=False)
        if mol is None:
            return None
        mol.UpdatePropertyCache(strict=False)
        pt = Chem.GetPeriodicTable()
        for a in mol.GetAtoms():
            if a.GetSymbol() in _STRICT_VALENCE and a.GetFormalCharge() == 0:
                allowed = max(pt.GetValenceList(a.GetAtomicNum()))
                if a.GetExplicitValence() > allowed:
                    return None
        ok = Chem.SanitizeMol(mol, Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES,
                              catchErrors=True)
        return mol if ok == Chem.SanitizeFlags.SANITIZE_NONE else None


@lru_cache(maxsize=4096)
def parse_smiles(text: str, known: "KnownSmiles | None" = None) -> Parsed:
    """A declared SMILES. ``known``: the list's structures by canonical SMILES (:class:`KnownSmiles`);
    a structure found there takes its key from the list instead of computing an InChI."""
    s = text.strip()
    if not s:
        return Parsed("SMILES", text, problem="empty")
    if any(c.isspace() for c in s):
        return Parsed("SMILES", text, problem="a SMILES string contains no spaces")
    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as cap:  # warnings silenced, errors kept
        mol = Chem.MolFromSmiles(s)
    if mol is None:
        problem = _first_line_error(cap.messages, "not a valid SMILES string")
        mol = _hypervalent(s) if "valence" in problem else None
        if mol is None:
            return Parsed("SMILES", text, problem=problem)
    elif known is not None:
        key = known.key_of(mol)
        if key is not None:
            return Parsed("SMILES", text, key, key, _formula_of(mol))
    return Parsed("SMILES", text, *mol_keys(mol), _formula_of(mol))


class KnownSmiles:
    """The list's one-fragment, uncharged structures by canonical SMILES -> their connectivity key.

    For such a structure :func:`mol_keys` is ``({key}, {key})`` with ``key`` the first block of its
    InChIKey, a function of the molecular graph alone; a declared SMILES with the same canonical SMILES
    (RDKit's, isomeric) is the same graph, so it has the same key -- taken from the list's
    ``parent_keys`` instead of computing an InChI (most of the cost of a SMILES). Looked up only when
    the declared structure's formula is one of theirs (a formula costs far less than a canonical
    SMILES). tests/test_chem_fast.py checks every entry against :func:`mol_keys`."""

    def __init__(self, rows):
        """``rows``: ``(smiles, parent keys)`` pairs."""
        by_formula: dict[str, dict[str, frozenset[str] | None]] = {}
        for smiles, parents in rows:
            if len(parents) != 1:
                continue
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                continue
            _tables()
            if len(Chem.GetMolFrags(mol)) != 1 or mol.HasSubstructMatch(_CHARGED):
                continue
            with rdBase.BlockLogs():
                formula, canon = CalcMolFormula(mol), Chem.MolToSmiles(mol)
            got = by_formula.setdefault(formula, {})
            if canon in got and got[canon] != parents:
                got[canon] = None   # the list disagrees with itself: computed, not looked up
            else:
                got[canon] = parents
        self._by_formula = by_formula
        self.entries = sum(1 for v in by_formula.values() for k in v.values() if k is not None)

    def key_of(self, mol) -> frozenset[str] | None:
        with rdBase.BlockLogs():
            got = self._by_formula.get(CalcMolFormula(mol))
            return got.get(Chem.MolToSmiles(mol)) if got else None


@lru_cache(maxsize=4096)
def parse_inchi(text: str) -> Parsed:
    s = text.strip()
    if not _INCHI_PREFIX.match(s):
        return Parsed("InChI", text, problem="an InChI starts with 'InChI=1S/'")
    with rdBase.BlockLogs():
        mol, ret, message, log = rdinchi.InchiToMol(s, True, True)[:4]
    if mol is None or ret not in (0, 1):  # 0 ok, 1 warning
        last = [ln.strip() for ln in (log or message or "").splitlines() if ln.strip()]
        why = last[-1] if last else "the InChI library could not read it"
        why = re.sub(r"^Structure: \d+\s*", "", why)
        return Parsed("InChI", text, problem=why)
    return Parsed("InChI", text, *mol_keys(mol), _formula_of(mol))


def parse_inchikey(text: str) -> Parsed:
    s = text.strip()
    if not INCHIKEY.fullmatch(s):
        return Parsed("InChIKey", text, problem="an InChIKey has the form XXXXXXXXXXXXXX-XXXXXXXXXX-X "
                                                "(14, 10 and 1 capital letters)")
    return Parsed("InChIKey", text, frozenset({s[:14]}))


PARSERS = {"SMILES": parse_smiles, "InChI": parse_inchi, "InChIKey": parse_inchikey}


def structure_keys(smiles: str) -> tuple[frozenset[str], frozenset[str]]:
    """(exact, parent) keys of a source SMILES (used by the build script); empty when it does not parse."""
    p = parse_smiles(smiles)
    return p.keys, p.parents


# ---------------------------------------------------------------------------------------- formulas
def formula_counts(text: str, water: bool = True) -> tuple[tuple[str, int], ...] | None:
    """Element counts of a molecular formula as sellers write it: ``C2H6O``, ``CuSO4·5H2O``,
    ``C22H30N6O4S.C6H8O7``, ``Ca(OH)2``, ``C₂H₆O``, Hill order or not. ``None`` when it is no formula
    (an unknown element symbol, stray characters). Charges (``+``, ``2-``) at the end are ignored.
    ``water=False`` leaves out dotted water parts (``·5H2O``): the anhydrous formula."""
    if _PLAIN_FORMULA.fullmatch(text):
        # the common case (RDKit's formulas, most MF attributes): element symbols and counts only,
        # which every step below leaves as they are -- the same counts, without those steps
        plain: dict[str, int] = {}
        for el, n in _ELEMENT.findall(text):
            if el not in ELEMENTS:
                return None
            plain[el] = plain.get(el, 0) + (int(n) if n else 1)
        if not water and plain == {"H": 2, "O": 1}:
            return None
        return tuple(sorted(plain.items()))
    s = unicodedata.normalize("NFKC", text).translate(_SUBSCRIPTS).strip()
    s = re.sub(r"(?:\^\d*[+-]|\s\d*[+-]|[+-]\d*)$", "", s).replace(" ", "")
    if not s:
        return None
    total: Counter = Counter()
    for part in _FORMULA_SEP.split(s):
        if not part:
            continue
        m = _FORMULA_PART.match(part)
        if not m:
            return None
        mult = int(m.group(1) or 1)
        body = m.group(2)
        counts: Counter = Counter()

        def add(seq: str, k: int) -> bool:
            for el, n in _ELEMENT.findall(seq):
                if el not in ELEMENTS:
                    return False
                counts[el] += (int(n) if n else 1) * k
            return True

        for g in _GROUP.finditer(body):
            if not add(g.group(1), int(g.group(2) or 1)):
                return None
        if not add(_GROUP.sub("", body), 1):
            return None
        if not water and dict(counts) == {"H": 2, "O": 1}:
            continue
        for el, n in counts.items():
            total[el] += n * mult
    return tuple(sorted(total.items())) if total else None


def formula_text(counts: tuple[tuple[str, int], ...]) -> str:
    """Hill order: C, H, then the others alphabetically (no C: all alphabetically)."""
    d = dict(counts)
    order = (["C", "H"] if "C" in d else []) + sorted(k for k in d if not ("C" in d and k in ("C", "H")))
    return "".join(f"{el}{d[el] if d[el] != 1 else ''}" for el in order if el in d)


def declared_formulas(text: str) -> frozenset[tuple[tuple[str, int], ...]]:
    """The formulas a declared MF may mean: as written, and without its dotted water of hydration
    (``CuSO4·5H2O`` declared for the anhydrous CAS is the same substance). Empty when it is no formula."""
    out = {formula_counts(text), formula_counts(text, water=False)}
    return frozenset(f for f in out if f)


# ---------------------------------------------------------------------------------------- the index
@dataclass(frozen=True, slots=True)
class StructureEntry:
    cas: str
    kind: str        # "prohibited" | "restricted" | "sexual_health"
    name: str
    group: str       # the list(s) or the ingredient group
    formula: tuple[tuple[str, int], ...] | None
    keys: frozenset[str]        # exact
    parents: frozenset[str]
    source: str

    @property
    def all_keys(self) -> frozenset[str]:
        return self.keys | self.parents


class StructureIndex:
    """``cas_lists/structures.csv`` in memory: connectivity key -> entries, CAS -> entries."""

    def __init__(self, path: Path):
        self.by_key: dict[str, list[StructureEntry]] = {}      # exact keys
        self.by_any: dict[str, list[StructureEntry]] = {}      # exact and parent keys
        self.by_cas: dict[str, list[StructureEntry]] = {}
        self.rows = 0
        self.known = KnownSmiles(())
        smiles: list[tuple[str, frozenset[str]]] = []
        if not path.is_file():
            return
        with path.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                keys = frozenset(k for k in r["keys"].split(";") if k)
                parents = frozenset(k for k in r["parent_keys"].split(";") if k)
                formula = formula_counts(r["formula"]) if r["formula"] else None
                e = StructureEntry(r["cas"], r["kind"], r["name"], r["group"], formula, keys, parents,
                                   r["source"])
                self.rows += 1
                for k in keys:
                    self.by_key.setdefault(k, []).append(e)
                for k in keys | parents:
                    self.by_any.setdefault(k, []).append(e)
                if e.cas:
                    self.by_cas.setdefault(e.cas, []).append(e)
                if r["smiles"]:
                    smiles.append((r["smiles"], parents))
        self.known = KnownSmiles(smiles)

    def parse(self, kind: str, text: str) -> Parsed:
        """A declared structure of ``kind`` (see PARSERS), SMILES of listed structures found by
        :class:`KnownSmiles`."""
        if kind == "SMILES":
            return parse_smiles(text, self.known)
        return PARSERS[kind](text)

    def lookup(self, keys: frozenset[str], parents: frozenset[str] = frozenset()) -> list[StructureEntry]:
        """Entries that are the declared structure (an exact key in common); when there are none,
        entries that share a parent with it (another salt / hydrate / the free base)."""
        out: dict[tuple[str, str, str], StructureEntry] = {}
        for k in sorted(keys):
            for e in self.by_key.get(k, ()):
                out.setdefault((e.kind, e.cas, e.name), e)
        if not out:
            for k in sorted(keys | parents):
                for e in self.by_any.get(k, ()):
                    out.setdefault((e.kind, e.cas, e.name), e)
        return [out[k] for k in sorted(out)]

    def formula_of(self, cas: str) -> tuple[tuple[str, int], ...] | None:
        forms = {e.formula for e in self.by_cas.get(cas, ()) if e.formula}
        return next(iter(forms)) if len(forms) == 1 else None

    def keys_of(self, cas: str) -> frozenset[str]:
        return frozenset(k for e in self.by_cas.get(cas, ()) for k in e.all_keys)
