#!/usr/bin/env python3
"""Independent expectations for the reports corpus (Python standard library only).

For every file named in SOURCES.tsv this prints one JSON object per line:
  {"file": ..., "format": ..., "declared": {...} | null, "counted": {...} | null, "broken": bool}

- "declared" is the producer's own summary read from the file (JUnit suite attributes, TRX
  Counters, NUnit/TestNG root totals, Cobertura root counts, JaCoCo report counters, Clover
  project metrics, LCOV LF/LH/BRF/BRH); null when the format has none.
- "counted" is computed here from the file's elements with ElementTree / json, written apart
  from the Rust parsers (same documented semantics: see kiln-reports' crate doc).
- "broken" is true when the standard library cannot read the file at all (corrupt, or not the
  format): the Rust side must then give a located warning.

Test counts are {"total","failed","error","skipped","unknown"}; coverage counts
{"lines_covered","lines_missed","branches_covered","branches_missed"}; SARIF {"findings"}.
"""
import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FORMATS = {
    "lcov": "LCOV", "NOT-SIMPLECOV": "SIMPLECOV", "not-JUNIT": "JUNITXML",
}


def local(tag):
    return tag.rsplit("}", 1)[-1]


def it(root, name):
    return [e for e in root.iter() if local(e.tag) == name]


def children(e, name):
    return [c for c in e if local(c.tag) == name]


def tests(total=0, failed=0, error=0, skipped=0, unknown=0):
    return {"total": total, "failed": failed, "error": error, "skipped": skipped, "unknown": unknown}


def num(v):
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def junit(root):
    counted = tests()
    for case in it(root, "testcase"):
        kids = [local(c.tag) for c in case]
        outcome = next((k for k in kids if k in ("failure", "error")), None)
        if outcome is None and "skipped" in kids:
            outcome = "skipped"
        counted["total"] += 1
        if outcome == "failure":
            counted["failed"] += 1
        elif outcome == "error":
            counted["error"] += 1
        elif outcome == "skipped":
            counted["skipped"] += 1
    holders = [root] if root.get("tests") is not None else children(root, "testsuite")
    holders = [h for h in holders if h.get("tests") is not None]
    declared = None
    if holders:
        declared = tests()
        for h in holders:
            declared["total"] += num(h.get("tests")) or 0
            declared["failed"] += num(h.get("failures")) or 0
            declared["error"] += num(h.get("errors")) or 0
            declared["skipped"] += num(h.get("skipped") or h.get("skips")) or 0
    return declared, counted


def nunit(root):
    counted = tests()
    for case in it(root, "test-case"):
        result, label = case.get("result"), case.get("label")
        if result in ("Passed", "Success"):
            status = None
        elif result == "Failed":
            status = "error" if label in ("Error", "Invalid", "Cancelled") else "failed"
        elif result == "Failure":
            status = "failed"
        elif result in ("Error", "NotRunnable", "Cancelled"):
            status = "error"
        elif result in ("Skipped", "Ignored", "NotRun"):
            status = "skipped"
        elif result is not None:
            status = "unknown"
        elif case.get("executed") == "False":
            status = "skipped"
        elif case.get("success") == "False":
            status = "failed"
        else:
            status = None if case.get("success") == "True" else "unknown"
        counted["total"] += 1
        if status:
            counted[status] += 1
    if local(root.tag) == "test-run":
        declared = tests(num(root.get("total")) or 0, num(root.get("failed")) or 0, 0, num(root.get("skipped")) or 0,
                         (num(root.get("inconclusive")) or 0) + (num(root.get("warnings")) or 0))
        # NUnit 3 folds errors into `failed`: compare FAILED+ERROR against it.
        counted_cmp = dict(counted, failed=counted["failed"] + counted["error"], error=0)
        return declared, counted, counted_cmp
    declared = tests(num(root.get("total")) or 0, num(root.get("failures")) or 0, num(root.get("errors")) or 0,
                     (num(root.get("ignored")) or 0) + (num(root.get("skipped")) or 0), num(root.get("inconclusive")) or 0)
    return declared, counted, counted


def trx(root):
    counted = tests()

    def leaves(results):
        for r in results:
            inner = [x for x in r.iter() if x is not r and local(x.tag) == "UnitTestResult"]
            if inner:
                continue
            yield r

    for r in leaves(it(root, "UnitTestResult")):
        o = r.get("outcome", "")
        counted["total"] += 1
        if o in ("Failed", "Timeout", "Aborted"):
            counted["failed"] += 1
        elif o in ("Error", "NotRunnable"):
            counted["error"] += 1
        elif o == "NotExecuted":
            counted["skipped"] += 1
        elif o not in ("Passed", "PassedButRunAborted"):
            counted["unknown"] += 1
    c = it(root, "Counters")[0]
    g = lambda k: num(c.get(k)) or 0
    # Counters has no "skipped": a not-executed test is total - executed (notExecuted is often 0).
    declared = tests(g("total"), g("failed") + g("timeout") + g("aborted"), g("error") + g("notRunnable"),
                     g("total") - g("executed"), g("inconclusive") + g("warning") + g("disconnected"))
    return declared, counted


def testng(root):
    counted = tests()
    for m in it(root, "test-method"):
        status, config = m.get("status"), m.get("is-config") == "true"
        if m.get("retried") == "true" or (config and status != "FAIL"):
            continue
        counted["total"] += 1
        if status == "FAIL":
            counted["failed"] += 1
        elif status == "SKIP":
            counted["skipped"] += 1
        elif status != "PASS":
            counted["unknown"] += 1
    declared = None
    if root.get("total") is not None:
        declared = tests(num(root.get("total")), num(root.get("failed")), 0, num(root.get("skipped")))
    return declared, counted


def coverage(lc, lm, bc, bm):
    return {"lines_covered": lc, "lines_missed": lm, "branches_covered": bc, "branches_missed": bm}


def cobertura(root):
    files = {}
    for cls in it(root, "class"):
        lines = files.setdefault(cls.get("filename") or cls.get("name") or "", {})
        for line in it(cls, "line"):
            n = num(line.get("number"))
            if n is None:
                continue
            hit = (num(line.get("hits")) or 0) > 0
            bc = bt = 0
            m = re.search(r"\((\d+)/(\d+)\)", line.get("condition-coverage") or "")
            if line.get("branch") == "true" and m:
                bc, bt = int(m.group(1)), int(m.group(2))
            old = lines.get(n, (False, 0, 0))
            lines[n] = (old[0] or hit, max(old[1], bc), max(old[2], bt))
    lc = sum(1 for f in files.values() for v in f.values() if v[0])
    lm = sum(1 for f in files.values() for v in f.values() if not v[0])
    bc = sum(v[1] for f in files.values() for v in f.values())
    bt = sum(v[2] for f in files.values() for v in f.values())
    counted = coverage(lc, lm, bc, bt - bc)
    lv, lcov_, bv, bcov = (num(root.get(k)) for k in ("lines-valid", "lines-covered", "branches-valid", "branches-covered"))
    declared = None
    if lv is not None and lcov_ is not None:
        declared = coverage(lcov_, lv - lcov_, bcov if bcov is not None else counted["branches_covered"],
                            (bv - bcov) if bv is not None and bcov is not None else counted["branches_missed"])
    return declared, counted


def jacoco(root):
    def counters(e):
        out = {"LINE": (0, 0), "BRANCH": (0, 0)}
        for c in children(e, "counter"):
            if c.get("type") in out:
                out[c.get("type")] = (int(c.get("covered")), int(c.get("missed")))
        return coverage(out["LINE"][0], out["LINE"][1], out["BRANCH"][0], out["BRANCH"][1])

    total = coverage(0, 0, 0, 0)
    for sf in it(root, "sourcefile"):
        for k, v in counters(sf).items():
            total[k] += v
    return counters(root), total


def clover(root):
    counted = coverage(0, 0, 0, 0)
    for f in it(root, "file"):
        lines = {}
        for line in children(f, "line"):
            if line.get("type") in ("stmt", "cond"):
                n = num(line.get("num"))
                lines[n] = lines.get(n, False) or (num(line.get("count")) or 0) > 0
        counted["lines_covered"] += sum(1 for v in lines.values() if v)
        counted["lines_missed"] += sum(1 for v in lines.values() if not v)
        m = children(f, "metrics")
        if m:
            a, c = num(m[0].get("conditionals")) or 0, num(m[0].get("coveredconditionals")) or 0
            counted["branches_covered"] += c
            counted["branches_missed"] += a - c
    project = it(root, "project")[0]
    pm = children(project, "metrics")
    declared = None
    if pm:
        g = lambda k: num(pm[0].get(k)) or 0
        declared = coverage(g("coveredstatements"), g("statements") - g("coveredstatements"),
                            g("coveredconditionals"), g("conditionals") - g("coveredconditionals"))
    return declared, counted


def lcov(text):
    declared = coverage(0, 0, 0, 0)
    lines, branches = {}, {}
    sf = None
    for raw in text.splitlines():
        key, _, value = raw.strip().partition(":")
        if key == "SF":
            sf = value
        elif key == "DA":
            ln, cnt = value.split(",")[:2]
            lines[(sf, ln)] = lines.get((sf, ln), 0) + int(float(cnt))
        elif key == "BRDA":
            ln, block, br, taken = value.split(",")
            k = (sf, ln, block, br)
            branches[k] = branches.get(k, 0) + (0 if taken == "-" else int(taken))
        elif key in ("LF", "LH", "BRF", "BRH"):
            declared[{"LF": "lines_missed", "LH": "lines_covered", "BRF": "branches_missed", "BRH": "branches_covered"}[key]] += int(value)
    declared["lines_missed"] -= declared["lines_covered"]
    declared["branches_missed"] -= declared["branches_covered"]
    counted = coverage(sum(1 for v in lines.values() if v > 0), sum(1 for v in lines.values() if v == 0),
                       sum(1 for v in branches.values() if v > 0), sum(1 for v in branches.values() if v == 0))
    return declared, counted


def cucumber(data):
    rank = {"passed": 0, "skipped": 1, "pending": 1, "failed": 4, "undefined": 3, "ambiguous": 3}
    out = tests()
    for feature in data:
        background = -1
        for e in feature.get("elements", []):
            results = [h.get("result") for h in e.get("before", []) + e.get("after", [])]
            for s in e.get("steps", []):
                results += [s.get("result")] + [h.get("result") for h in s.get("before", []) + s.get("after", [])]
            worst = max([rank.get((r or {}).get("status"), 2) for r in results if r] or [-1])
            if e.get("type") == "background":
                background = worst
                continue
            worst, background = max(worst, background), -1
            out["total"] += 1
            key = {4: "failed", 3: "error", 2: "unknown", 1: "skipped"}.get(worst)
            if key:
                out[key] += 1
    return out


def simplecov(data):
    files = {}
    blocks = [data["coverage"]] if "coverage" in data and isinstance(data["coverage"], dict) else \
        [v["coverage"] for k, v in data.items() if k not in ("meta", "groups", "timestamp")]
    for block in blocks:
        for path, f in block.items():
            acc = files.setdefault(path, {"lines": [], "branches": {}})
            lines = f if isinstance(f, list) else f.get("lines", [])
            for i, v in enumerate(lines):
                if len(acc["lines"]) <= i:
                    acc["lines"].append(None)
                if isinstance(v, (int, float)):
                    acc["lines"][i] = (acc["lines"][i] or 0) + v
            br = {} if isinstance(f, list) else f.get("branches", {})
            legs = {}
            if isinstance(br, list):
                legs = {str(i): b.get("coverage") for i, b in enumerate(br)}
            else:
                legs = {c + " " + leg: n for c, ls in br.items() for leg, n in ls.items()}
            for k, n in legs.items():
                if isinstance(n, (int, float)):
                    acc["branches"][k] = acc["branches"].get(k, 0) + n
    out = coverage(0, 0, 0, 0)
    for acc in files.values():
        out["lines_covered"] += sum(1 for v in acc["lines"] if v is not None and v > 0)
        out["lines_missed"] += sum(1 for v in acc["lines"] if v == 0)
        out["branches_covered"] += sum(1 for v in acc["branches"].values() if v > 0)
        out["branches_missed"] += sum(1 for v in acc["branches"].values() if v == 0)
    return out


def sarif(data):
    n = 0
    for run in data.get("runs", []):
        for r in run.get("results", []):
            if r.get("kind", "fail") in ("pass", "notApplicable") or r.get("baselineState") == "absent":
                continue
            if any(s.get("status") != "rejected" for s in r.get("suppressions") or []):
                continue
            n += 1
    return {"findings": n}


MALFORMED = set()


def expect(path, fmt):
    raw = path.read_bytes()
    if fmt in ("CUCUMBERJSON", "SIMPLECOV", "SARIF"):
        data = json.loads(raw.decode("utf-8-sig"))
        if fmt == "CUCUMBERJSON":
            return None, cucumber(data)
        if fmt == "SIMPLECOV":
            if data.get("type") == "CodeCoverage":
                raise ValueError("Dart coverage JSON, not SimpleCov")
            return None, simplecov(data)
        return None, sarif(data)
    if fmt == "LCOV":
        return lcov(raw.decode("utf-8", "replace"))
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        # Control characters XML 1.0 forbids (a real NUnit file has them in a CDATA message):
        # count what is there without them; the Rust side must warn about them.
        root = ET.fromstring(re.sub(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", b"", raw))
        MALFORMED.add(path.name)
    name = local(root.tag)
    if fmt == "JUNITXML":
        if name not in ("testsuites", "testsuite"):
            raise ValueError("not JUnit")
        return junit(root)
    if fmt in ("NUNITXML", "NUNIT3XML"):
        declared, counted, counted_cmp = nunit(root)
        return declared, counted, counted_cmp
    return {"VISUALSTUDIOTRX": trx, "TESTNGXML": testng, "COBERTURAXML": cobertura, "JACOCOXML": jacoco,
            "CLOVERXML": clover}[fmt](root)


def main():
    corpus = Path(sys.argv[1])
    for row in csv.DictReader(open(corpus / "SOURCES.tsv"), delimiter="\t"):
        tag = row["notes"].split()[0].split(":", 1)[1].rstrip(";:")
        fmt = FORMATS.get(tag, tag.split("(")[0])
        out = {"file": row["file"], "format": fmt, "declared": None, "counted": None, "compare": None, "broken": False}
        try:
            r = expect(corpus / row["file"], fmt)
            out["declared"], out["counted"] = r[0], r[1]
            out["compare"] = r[2] if len(r) > 2 else r[1]
            out["malformed"] = row["file"] in MALFORMED
        except (ET.ParseError, ValueError, KeyError, json.JSONDecodeError) as e:
            out["broken"] = True
            out["why"] = str(e)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
