"""Benchmark of ``moderate rescan``: throughput end to end, peak memory of the whole process tree,
scaling from 1 to 2 workers, the cost of a resume after a SIGKILL at 50 %, and the diff.

The catalogue is built at bench time in a temporary folder (never committed) by repeating and
perturbing the real listings of ``../shared/data/listings/*.csv`` (every file, in its real
proportions: mostly general products, then hard negatives, vape, chemicals …): each copy gets a new
id and one small change (a word's case, a pack size, a "wholesale"/"new" prefix, two words
swapped, keywords taken from the title), plus a few bad rows (malformed JSON, no title, a 5 MB
description). Every run is a real ``python -m app.cli.main rescan`` subprocess.

Steps (``--n`` listings, default 1,000,000):
1. previous run: ``--as-of 2021-12-01`` (before the e-liquid ban), full, timed → the full-run time;
2. the current run (today), SIGKILLed when half of the listings are committed, then ``--resume``
   with ``--diff`` the previous run → the resume time (decide + merge, then diff and report apart);
3. scaling: the first ``--scale-n`` listings with 1 and with 2 workers.

Usage: python bench/bench_rescan.py [--n 1000000] [--scale-n 100000] [--keep DIR]
Writes bench/results/bench_rescan.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO_ROOT, listings_dir, machine, md_table, write_result  # noqa: E402

PREFIXES = ["New", "Wholesale", "Hot sale", "2026", "Factory direct", "Premium", "OEM"]
SUFFIXES = [" 2 pcs", " 500ml", " 1kg", " (pack of 3)", " - black", " XL", " 10x", " #A{n}"]


def read_corpus(folder: Path) -> list[tuple[str, str, str]]:
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                title = (r.get("title") or "").strip()
                if title:
                    rows.append((title, (r.get("description") or "").strip(), (r.get("category") or "").strip()))
    return rows


def perturb(title: str, rng: random.Random, n: int) -> str:
    words = title.split()
    mode = n % 6
    if mode == 1 and words:
        i = rng.randrange(len(words))
        words[i] = words[i].upper() if rng.random() < 0.5 else words[i].lower()
    elif mode == 2:
        return title + rng.choice(SUFFIXES).format(n=n % 9973)
    elif mode == 3:
        return f"{rng.choice(PREFIXES)} {title}"
    elif mode == 4 and len(words) > 2:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words) if words else title


def build_catalogue(path: Path, n: int, corpus: list[tuple[str, str, str]], seed: int = 20261123) -> dict:
    rng = random.Random(seed)
    order = list(range(len(corpus)))
    rng.shuffle(order)
    bad = {n // 3: '{"listing_id": "bad-json", "title": ',
           n // 3 + 1: json.dumps({"listing_id": "bad-no-title", "description": "x"}),
           2 * n // 3: json.dumps({"listing_id": "bad-5mb", "title": "t", "description": "d" * 5_000_000})}
    size = 0
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            if i in bad:
                line = bad[i]
            else:
                title, desc, cat = corpus[order[i % len(order)]]
                d: dict = {"listing_id": f"c{i:07d}", "title": perturb(title, rng, i)[:1000]}
                if desc:
                    d["description"] = desc
                if cat and i % 2 == 0:
                    d["category"] = cat[:1000]
                if i % 4 == 0:
                    d["keywords"] = [w for w in title.split()[:3] if len(w) < 500]
                line = json.dumps(d, ensure_ascii=False)
            fh.write(line + "\n")
            size += len(line.encode()) + 1
    return {"listings": n, "bytes": size, "bad_rows": len(bad), "distinct_sources": len(corpus)}


def head_lines(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` lines of ``src`` as ``dst``."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        for i, line in enumerate(fin):
            if i >= n:
                break
            fout.write(line)
    return dst


# ------------------------------------------------------------------------------- process-tree RSS
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree_pids(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMonitor(threading.Thread):
    """Peak of the summed RSS of a process and all its descendants (sampled every 0.2 s)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop, self.pids = pid, 0, threading.Event(), set()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = tree_pids(self.pid)
            self.pids.update(pids)
            self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in pids))
            self.stop.wait(0.2)


ROOT = REPO_ROOT  # where the code and data files are run from (--snapshot: a frozen copy)
CLASSIFIER = "on"  # MODERATE_CLASSIFIER of the runs (--classifier)


def loadavg() -> float:
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def rescan(args: list[str], log: Path, kill_at: int | None = None, work: Path | None = None) -> dict:
    """Run ``moderate rescan``; with ``kill_at``, SIGKILL it once that many listings are committed.
    CPU time is the child's and its waited-for descendants' (``wait4``): the workers, except in a
    killed run."""
    cmd = [sys.executable, "-m", "app.cli.main", "rescan", *args]
    env = dict(os.environ)
    env["MODERATE_CLASSIFIER"] = CLASSIFIER
    if ROOT != REPO_ROOT:
        env["PYTHONPATH"] = str(ROOT)
        env["MODERATE_DATA_DIR"] = str(ROOT)
    load0 = loadavg()
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    mon = TreeMonitor(proc.pid)
    mon.start()
    killed_at = None
    if kill_at is not None:
        while proc.poll() is None:
            try:
                doc = json.loads((work / "manifest.json").read_text())
                done = sum(c["stats"]["decided"] for c in doc["chunks"].values())
            except (OSError, ValueError, KeyError):
                done = 0
            if done >= kill_at:
                proc.send_signal(signal.SIGKILL)
                killed_at = done
                break
            time.sleep(0.05)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    mon.stop.set()
    mon.join()
    deadline = time.monotonic() + 5  # the workers die with their parent (PR_SET_PDEATHSIG), give them a moment
    while time.monotonic() < deadline:
        orphans = [p for p in mon.pids if p != proc.pid and os.path.exists(f"/proc/{p}")]
        if not orphans:
            break
        time.sleep(0.1)
    return {"rc": rc, "elapsed": elapsed, "peak_mb": mon.peak_kb / 1024, "killed_at": killed_at,
            "orphans": orphans, "processes": len(mon.pids), "cpu_s": cpu, "load": (load0 + loadavg()) / 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--scale-n", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--listings-dir", default=None)
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temp folder)")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--snapshot", action="store_true",
                    help="run from a frozen copy of app/ and the data files (a working tree others are editing)")
    ap.add_argument("--out", default="bench_rescan", help="result file name in bench/results (without .md)")
    ap.add_argument("--classifier", choices=("on", "off"), default="on",
                    help="MODERATE_CLASSIFIER for the main runs (the text classifier check, issue 7)")
    ap.add_argument("--classifier-sample", type=int, default=0,
                    help="with --classifier off: also time this many listings with the classifier on")
    args = ap.parse_args()
    global CLASSIFIER
    CLASSIFIER = args.classifier

    folder = listings_dir(args.listings_dir)
    if not folder.is_dir():
        sys.exit(f"{folder} is absent: this benchmark needs the real listings (../shared/data/listings)")
    tmp_ctx = None if args.keep else tempfile.TemporaryDirectory(prefix="bench-rescan-")
    tmp = Path(args.keep or tmp_ctx.name)
    tmp.mkdir(parents=True, exist_ok=True)
    if args.snapshot:
        import shutil

        global ROOT  # noqa: PLW0603
        ROOT = tmp / "snapshot"
        if ROOT.exists():
            shutil.rmtree(ROOT)
        ROOT.mkdir()
        for name in ("app", "policy", "lexicons", "cas_lists", "devices", "models"):
            if (REPO_ROOT / name).is_dir():
                shutil.copytree(REPO_ROOT / name, ROOT / name, ignore=shutil.ignore_patterns("__pycache__"))
        os.environ["MODERATE_DATA_DIR"] = str(ROOT)
        sys.path.insert(0, str(ROOT))
    corpus = read_corpus(folder)
    t = time.perf_counter()
    cat = tmp / "catalogue.jsonl"
    info = build_catalogue(cat, args.n, corpus)
    gen_s = time.perf_counter() - t
    print(f"catalogue: {info} in {gen_s:.1f} s", flush=True)

    from app.engine import Engine

    os.environ["MODERATE_CLASSIFIER"] = CLASSIFIER
    snap = Engine().snapshot
    engine_desc = (f"policy {snap.version}, {len(snap.lexicons)} lexicon families ({', '.join(sorted(snap.lexicons))}), "
                   f"{len(snap.checks)} checks ({', '.join(c.name for c in snap.checks)}); "
                   f"MODERATE_CLASSIFIER={CLASSIFIER}")
    w = str(args.workers)
    prev_out, cur_out = tmp / "previous.jsonl", tmp / "current.jsonl"

    # 1. the previous run, full
    full = rescan([str(cat), "-o", str(prev_out), "--as-of", "2021-12-01", "--workers", w, "--restart"],
                  tmp / "full.log")
    print("full:", full, flush=True)
    prev_manifest = json.loads((tmp / "previous.manifest.json").read_text())
    # 2. the current run, killed at 50 %, resumed with a diff
    half = args.n // 2
    killed = rescan([str(cat), "-o", str(cur_out), "--workers", w, "--restart"], tmp / "killed.log",
                    kill_at=half, work=tmp / "current.jsonl.parts")
    print("killed:", killed, flush=True)
    kept = json.loads((tmp / "current.jsonl.parts" / "manifest.json").read_text())
    kept_n = sum(c["stats"]["decided"] for c in kept["chunks"].values())
    resumed = rescan([str(cat), "-o", str(cur_out), "--workers", w, "--resume", "--diff", str(prev_out)],
                     tmp / "resume.log")
    print("resumed:", resumed, flush=True)
    cur_manifest = json.loads((tmp / "current.manifest.json").read_text())
    ids = 0
    seen = set()
    dupes = 0
    with cur_out.open("rb") as fh:
        for line in fh:
            lid = json.loads(line)["listing_id"]
            ids += 1
            if lid in seen:
                dupes += 1
            seen.add(lid)
    expected_ids = args.n - 3
    del seen

    # 3. scaling on the first scale-n listings
    scaling = []
    if not args.skip_scaling:
        sub = head_lines(cat, tmp / "subset.jsonl", args.scale_n)
        for k in (1, 2):
            r = rescan([str(sub), "-o", str(tmp / f"scale{k}.jsonl"), "--workers", str(k), "--restart",
                        "--no-report"], tmp / f"scale{k}.log")
            m = json.loads((tmp / f"scale{k}.manifest.json").read_text())
            scaling.append((k, r, m))
            print(f"scale {k}:", r, flush=True)

    # 4. the classifier's cost, on a sample
    with_clf = None
    if args.classifier_sample and CLASSIFIER == "off":
        sub = head_lines(cat, tmp / "clf-sample.jsonl", args.classifier_sample)
        CLASSIFIER = "on"
        r = rescan([str(sub), "-o", str(tmp / "clf.jsonl"), "--workers", w, "--restart", "--no-report"],
                   tmp / "clf.log")
        CLASSIFIER = "off"
        m = json.loads((tmp / "clf.manifest.json").read_text())
        with_clf = (r, m)
        print("classifier on:", r, flush=True)

    # ------------------------------------------------------------------------------ the report
    n_dec = full_dec = prev_manifest["stats"]["decided"]
    full_rate = full_dec / full["elapsed"]
    t_dec = cur_manifest["timings"]
    resume_core = resumed["elapsed"] - t_dec.get("diff", 0) - t_dec.get("report", 0)
    lines = [
        "# Rescan benchmark (`moderate rescan`, end to end)",
        "",
        f"- {machine()}.",
        f"- Engine: {engine_desc}. Other helpers are adding lexicon families concurrently: the figures are "
        "for the engine as it stood when this ran.",
        f"- Catalogue: {info['listings']:,} listings ({info['bytes'] / 1e6:,.0f} MB JSONL), built at bench time in a "
        f"temporary folder by repeating and perturbing the {info['distinct_sources']:,} real listings of "
        "`../shared/data/listings/*.csv` in their real proportions (one small change per copy: case, pack size, "
        f"prefix, word swap, keywords), with {info['bad_rows']} bad rows (malformed JSON, no title, a 5 MB "
        f"description). Generated in {gen_s:,.0f} s; never committed.",
        "- Every run is a real `python -m app.cli.main rescan` subprocess; time is wall-clock from start to exit "
        "(engine builds, reading, deciding, merging, report); memory is the peak of the summed RSS of the whole "
        "process tree (parent + workers, sampled every 0.2 s; shared pages counted once per process, so this "
        "over-states).",
        f"- Command: `moderate rescan catalogue.jsonl -o previous.jsonl --as-of 2021-12-01 --workers {w}`, "
        f"then `moderate rescan catalogue.jsonl -o current.jsonl --workers {w}` SIGKILLed at 50 % and "
        f"`… --resume --diff previous.jsonl`.",
        "",
        "## Summary",
        "",
        md_table(["measure", "value", "target"], [
            ["throughput, full run", f"**{full_rate:,.0f} listings/s** ({full_dec:,} in {full['elapsed']:,.1f} s)",
             "≥ 1,700 listings/s (1 M in < 10 min): " + ("met" if full_rate >= 1700 else "**NOT met**")],
            ["CPU cost, full run", f"{full['cpu_s'] / full_dec * 1000:.2f} CPU-ms per listing → "
             f"{2 * full_dec / full['cpu_s']:,.0f} listings/s on 2 cores if nothing else ran (estimate)",
             f"load average during the run: {full['load']:.1f} (2 cores)"],
            ["peak memory, process tree", f"**{max(full['peak_mb'], resumed['peak_mb']):,.0f} MB**",
             "≤ 1 GB: " + ("met" if max(full["peak_mb"], resumed["peak_mb"]) <= 1024 else "**NOT met**")],
            ["resume after SIGKILL at 50 %", f"**{resume_core / full['elapsed']:.1%}** of the full run "
             f"({resume_core:,.1f} s; kept {kept_n:,} decisions)",
             "≤ 55 %: " + ("met" if resume_core / full["elapsed"] <= 0.55 else "**NOT met**")],
            ["exactly once after the resume", f"{ids:,} decisions, {dupes} duplicate ids "
             f"(expected {expected_ids:,}, 0)", "met" if ids == expected_ids and dupes == 0 else "**NOT met**"],
        ]),
        "",
        "## Runs",
        "",
        md_table(["run", "wall s", "listings/s", "CPU s (tree)", "peak RSS MB (tree)", "load avg", "processes",
                  "exit", "note"], [
            ["previous (full, --as-of 2021-12-01)", f"{full['elapsed']:,.1f}", f"{full_rate:,.0f}",
             f"{full['cpu_s']:,.0f}", f"{full['peak_mb']:,.0f}", f"{full['load']:.1f}", full["processes"], full["rc"],
             "exit 1 = bad rows reported"],
            ["current, SIGKILLed at 50 %", f"{killed['elapsed']:,.1f}", "–", "–", f"{killed['peak_mb']:,.0f}",
             f"{killed['load']:.1f}", killed["processes"], killed["rc"],
             f"killed at {killed['killed_at']:,} committed; {len(killed['orphans'])} orphan workers after the kill"],
            ["current, --resume --diff previous", f"{resumed['elapsed']:,.1f}",
             f"{(n_dec - kept_n) / max(resume_core, 1e-9):,.0f}", f"{resumed['cpu_s']:,.0f}",
             f"{resumed['peak_mb']:,.0f}", f"{resumed['load']:.1f}", resumed["processes"], resumed["rc"],
             f"decide {t_dec['decide']:,.1f} s, merge {t_dec['merge']:,.1f} s, diff {t_dec.get('diff', 0):,.1f} s, "
             f"report {t_dec.get('report', 0):,.1f} s"],
        ]),
        "",
        "Resume overhead = (resume wall time − diff − report) / full-run wall time; the diff and the report are "
        "extra work the full run did not do, timed apart. The killed run plus the resume took "
        f"{killed['elapsed'] + resume_core:,.1f} s against {full['elapsed']:,.1f} s for one uninterrupted run.",
        "",
    ]
    if scaling:
        base = scaling[0][2]["stats"]["decided"] / scaling[0][1]["elapsed"]
        lines += ["## Scaling (first {:,} listings)".format(args.scale_n), "",
                  md_table(["workers", "wall s", "listings/s", "speed-up", "peak RSS MB (tree)"],
                           [[k, f"{r['elapsed']:,.1f}", f"{m['stats']['decided'] / r['elapsed']:,.0f}",
                             f"{(m['stats']['decided'] / r['elapsed']) / base:.2f}×", f"{r['peak_mb']:,.0f}"]
                            for k, r, m in scaling]),
                  "", "With 1 worker the parent (reading, manifest, merge) runs on the second core; with 2 workers "
                  "it shares the two cores with them.", ""]
    if with_clf:
        r, m = with_clf
        d = m["stats"]["decided"]
        lines += [f"## With the text classifier (MODERATE_CLASSIFIER=on), first {d:,} listings", "",
                  md_table(["workers", "wall s", "listings/s", "CPU-ms per listing", "listings/s on 2 idle cores "
                            "(CPU estimate)", "peak RSS MB (tree)"],
                           [[w, f"{r['elapsed']:,.1f}", f"{d / r['elapsed']:,.0f}", f"{r['cpu_s'] / d * 1000:.2f}",
                             f"{2 * d / r['cpu_s']:,.0f}", f"{r['peak_mb']:,.0f}"]]),
                  "", "The classifier check (issue 7) scores one listing at a time; its cost dominates the engine "
                  "when it is on. A batched predict over a chunk would remove most of it.", ""]
    diff = cur_manifest.get("diff", {}).get("summary", {})
    if diff:
        lines += ["## Diff against the previous run (today vs 2021-12-01)", "",
                  md_table(["", "listings"], [[k, f"{diff[k]:,}"] for k in ("unchanged", "changed", "added", "removed")]
                           + [[f"effect: {e}", f"{n:,}"] for e, n in diff["effects"].items() if n]),
                  "", md_table(["rule", "newly violated", "no longer", "points/regions changed"],
                               [[r, f"{c['added']:,}", f"{c['removed']:,}", f"{c['changed']:,}"]
                                for r, c in list(diff["rules"].items())[:12]]), ""]
    st = cur_manifest["stats"]
    lines += ["## Decisions of the current run", "",
              md_table(["action", "listings"], [[a, f"{st['actions'].get(a, 0):,}"] for a in
                                                ("allow", "region_mask", "restrict", "block")]
                       + [["errors (bad rows)", f"{st['errors']:,}"]]), "",
              "Top rules: " + ", ".join(f"{r} {n:,}" for r, n in sorted(st["rules"].items(),
                                                                          key=lambda kv: -kv[1])[:8]), ""]
    path = write_result(args.out, "\n".join(lines))
    print(f"wrote {path}")
    if tmp_ctx:
        tmp_ctx.cleanup()


if __name__ == "__main__":
    main()
