"""The report of ``realdata.py``: markdown tables of the scores, the target's PASS/FAIL
line, the per-series table and the shift check (``render``)."""

from __future__ import annotations

from collections import defaultdict

from realdata_corpus import Series
from realdata_scoring import Score, f1_tcpd, score_series

__all__ = ["SHORT", "render", "target_line"]

SHORT = (100, 1_000)  # TCPD-style short series: 100 to 1,000 values
DETECTORS = ("streamproc", "River ADWIN", "River PageHinkley", "River KSWIN")
FA_RATIO = 5  # target: streamproc's false-alarm rate at most 1/5 of ADWIN's


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _pp(x: float) -> str:
    """A share difference in percentage points, without a "-0"."""
    v = round(100 * x)
    return f"{v:+d} pp" if v else "0 pp"


def _score_all(corpus: list[Series], results: dict[str, dict[str, object]]
               ) -> dict[str, dict[str, Score]]:
    """series -> detector -> Score, every detector scored after streamproc's reference."""
    out: dict[str, dict[str, Score]] = {}
    for s in corpus:
        res = results[s.name]
        start = int(res["ref"])  # type: ignore[arg-type]
        out[s.name] = {d: score_series(s, list(res[d]), start)  # type: ignore[call-overload]
                       for d in DETECTORS}
    return out


def _summary_rows(label: str, scores: list[dict[str, Score]], n_series: int) -> list[str]:
    rows = []
    for d in DETECTORS:
        tot = Score()
        for per in scores:
            tot.add(per[d])
        inc = tot.incidents
        caught = tot.caught / inc if inc else 0.0
        chance = tot.chance / inc if inc else 0.0
        rows.append(f"| {label} | {n_series} | {d} | {inc} | {tot.in_reference} | "
                    f"{tot.caught} ({_pct(caught)}) | {_pct(chance)} | "
                    f"{_pp(caught - chance)} | {tot.alarms} | "
                    f"{tot.fa_per_10k:.1f} |")
    return rows


def _totals(scores: dict[str, dict[str, Score]], det: str) -> Score:
    tot = Score()
    for per in scores.values():
        tot.add(per[det])
    return tot


def target_line(scores: dict[str, dict[str, Score]]) -> str:
    """PASS when streamproc's (caught - chance) is at least ADWIN's, at <= 1/5 its FA rate."""
    sp, ad = _totals(scores, "streamproc"), _totals(scores, "River ADWIN")

    def excess(t: Score) -> float:
        return (t.caught - t.chance) / t.incidents if t.incidents else 0.0

    # Above chance too: a monitor that never alarms scores 0 - 0 and would otherwise
    # pass whenever ADWIN is at or below chance.
    ok = (excess(sp) >= excess(ad) and excess(sp) > 0
          and sp.fa_per_10k <= ad.fa_per_10k / FA_RATIO)
    return (f"**{'PASS' if ok else 'FAIL'}**: streamproc caught - chance "
            f"{100 * excess(sp):+.1f} pp vs River ADWIN {100 * excess(ad):+.1f} pp "
            f"(target: at least ADWIN's and above 0), false alarms {sp.fa_per_10k:.1f} vs "
            f"{ad.fa_per_10k:.1f} per 10k (target: at most {ad.fa_per_10k / FA_RATIO:.1f}, "
            f"one fifth of ADWIN's).")


def _f1_table(corpus: list[Series], results: dict[str, dict[str, object]]) -> list[str]:
    short = [s for s in corpus if SHORT[0] <= s.n <= SHORT[1]]
    if not short:
        return ["No short series in this run."]
    rows = {"zero (no change)": [f1_tcpd(s.annotations, []) for s in short]}
    for d in DETECTORS:
        rows[d] = [f1_tcpd(s.annotations, [h for h in results[s.name][d]  # type: ignore
                                            if h >= results[s.name]["ref"]])  # type: ignore
                   for s in short]
    rows["streamproc (onsets as locations)"] = [
        f1_tcpd(s.annotations, list(results[s.name]["onsets"]))  # type: ignore[call-overload]
        for s in short]
    lines = [f"{len(short)} series of {SHORT[0]}-{SHORT[1]:,} values; margin 5; "
             "predictions are the detection positions after the reference part.", "",
             "| detector | mean F1 | series with F1 above zero's |", "| --- | ---: | ---: |"]
    zero = rows["zero (no change)"]
    for name, vals in rows.items():
        above = sum(1 for v, z in zip(vals, zero, strict=True) if v > z + 1e-12)
        lines.append(f"| {name} | {sum(vals) / len(vals):.3f} | "
                     f"{'-' if name.startswith('zero') else above} |")
    return lines


def _series_table(corpus: list[Series], results: dict[str, dict[str, object]],
                  scores: dict[str, dict[str, Score]]) -> list[str]:
    head = ("| series | domain | n | reference | incidents (in ref.) | "
            + " | ".join(f"{d} caught / alarms" for d in DETECTORS) + " |")
    lines = [head, "|" + " --- |" * 2 + " ---: |" * (3 + len(DETECTORS))]
    for s in corpus:
        per = scores[s.name]
        first = per["streamproc"]
        cells = " | ".join(f"{per[d].caught} / {per[d].alarms}" for d in DETECTORS)
        lines.append(f"| {s.name} | {s.domain} | {s.n:,} | {results[s.name]['ref']} | "
                     f"{first.incidents} ({first.in_reference}) | {cells} |")
    return lines


def _silent(corpus: list[Series], scores: dict[str, dict[str, Score]]) -> list[str]:
    out = []
    for s in corpus:
        per = scores[s.name]
        if per["streamproc"].caught == 0 and per["streamproc"].incidents:
            river = [f"{d.split()[-1]} {per[d].caught}/{per[d].incidents}"
                     for d in DETECTORS[1:] if per[d].caught]
            if river:
                out.append(f"- {s.name}: streamproc 0/{per['streamproc'].incidents} "
                           f"({per['streamproc'].alarms} alarms); {', '.join(river)}")
    return out or ["- none"]


def _shift_lines(rows: list[dict[str, object]]) -> list[str]:
    if not rows:
        return ["Not run (`--quick`, or the series is not in the corpus)."]
    lines = []
    for r in rows:
        start = int(r["start"])  # type: ignore[arg-type]
        hits = list(r["streamproc"])  # type: ignore[call-overload]
        river = ", ".join(f"{d.split()[-1]} {len(h)} alarms"
                          + (f" (first {h[0] - start} events in)" if h else "")
                          for d, h in r["river"].items())  # type: ignore[attr-defined]
        verdict = (f"detects {hits[0] - start} events in ({len(hits)} detections)"
                   if hits else "silent")
        early = list(r["early"])  # type: ignore[call-overload]
        if early:
            verdict += f", and {len(early)} detections before the shift"
        lines.append(f"- {r['series']}: reference of {r['ref']} values {r['case']}, then "
                     f"{r['events']:,} events of the same readings shifted by "
                     f"{float(r['shift']):.2f} (-3 sd): streamproc {verdict}; {river}.")
    return lines


def render(corpus: list[Series], results: dict[str, dict[str, object]],
           shift_rows: list[dict[str, object]], meta: dict[str, object]) -> str:
    """The whole report as markdown."""
    scores = _score_all(corpus, results)
    floor = int(meta["floor"])  # type: ignore[arg-type]
    raised = [s.name for s in corpus if int(0.15 * s.n) < floor]
    domains: dict[str, list[Series]] = defaultdict(list)
    for s in corpus:
        domains[s.domain].append(s)
    out = [
        "# Real-data drift detection: streamproc vs River", "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; streamproc {meta['streamproc']}, river {meta['river']}, "
        f"numpy {meta['numpy']}, Python {meta['python']}  ",
        f"Run time: {float(meta['elapsed']):.0f} s on {meta['processes']} processes "  # type: ignore
        "(2 shared cores)" + (" — `--quick` smoke run" if meta["quick"] else ""), "",
        f"Corpus: {len(corpus)} series, "
        + ", ".join(f"{d} {len(v)}" for d, v in sorted(domains.items()))
        + f"; {sum(s.n for s in corpus):,} values (origins and licences: "
        "`benchmarks/data/realdata/README.md`). Scoring: `benchmarks/realdata_scoring.py`.",
        "",
        f"Reference: the first 15% of each series, raised to {floor} (the CLI's floor) for "
        f"{len(raised)} of {len(corpus)} series: {', '.join(raised) or 'none'}. Every "
        "detector is scored only after that reference part.", "",
        "## Incidents caught, chance, false alarms", "",
        "| domain | series | detector | incidents | in reference | caught | chance | "
        "caught - chance | alarms | false alarms / 10k |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d, members in sorted(domains.items()):
        out += _summary_rows(d, [scores[s.name] for s in members], len(members))
    out += _summary_rows("**total**", list(scores.values()), len(corpus))
    out += ["", target_line(scores), "",
            "## Short series: TCPD's F1", ""] + _f1_table(corpus, results)
    out += ["", "## Series where streamproc is silent while River catches", ""]
    out += _silent(corpus, scores)
    out += ["", "## Shift check (-3 sd; NAB's machine temperature at -30: "
            "`results/nab_machine_temperature.md`)", ""]
    out += _shift_lines(shift_rows)
    out += ["", "## Per series", ""] + _series_table(corpus, results, scores)
    return "\n".join(out) + "\n"
