#!/usr/bin/env python3
"""Compare a kosoku (Autobahn TestSuite) report with the committed expected results.

    python3 .ci/autobahn_check.py PROFILE REPORT_DIR EXPECTED_JSON           # check
    python3 .ci/autobahn_check.py PROFILE REPORT_DIR EXPECTED_JSON --write   # regenerate

PROFILE is the name of the echo server's profile (`16mib` or `4kib`), REPORT_DIR the
directory kosoku wrote (`-o`), EXPECTED_JSON a file mapping each case id to
`{"behavior", "behaviorClose"}` (and `remoteCloseCode` for a FAILED case). The rules:

- every expected case is in the report and the report has no other case;
- no case's `behavior` or `behaviorClose` is worse than expected
  (OK > NON-STRICT > INFORMATIONAL > anything else, which counts as FAILED);
- a FAILED case is allowed only in a profile listed in SIZE_LIMITS, only when the expected
  file lists it as FAILED with the same verdicts, and only when it failed because of the
  size limit: the server closed cleanly, first, with 1009 (the exact code in the expected
  file), without any timeout, after the client had sent more than the limit.

A case that did better than expected is printed as a note, not a violation. `--write`
regenerates EXPECTED_JSON from the report, and refuses to when a case breaks the rules
above that do not depend on the expected file. Standard library only. Exit status: 0 when
the report matches, 1 on any violation, 2 on a usage or input error.
"""

import json
import os
import sys

# The 4 KiB profile (`echo_server --small`) closes every message over 4,096 bytes with
# 1009; those are the only failures allowed anywhere. The 16 MiB profile may fail nothing.
SIZE_LIMITS = {"4kib": 4096}
MESSAGE_TOO_BIG = 1009

RANKS = {"OK": 3, "NON-STRICT": 2, "INFORMATIONAL": 1}  # anything else ranks 0: failed
CATEGORIES = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED"]
VERDICT_KEYS = ("behavior", "behaviorClose")
MAX_SHOWN = 60  # violations printed; a dead server fails every remaining case


def rank(verdict):
    return RANKS.get(verdict, 0)


def category(entry):
    """The worse of a case's two verdicts, as one of CATEGORIES."""
    worst = min(rank(entry.get(k)) for k in VERDICT_KEYS)
    return CATEGORIES[3 - worst]


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


class InputError(Exception):
    pass


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist")
    except (OSError, ValueError) as e:
        raise InputError(f"{what} {path} cannot be read: {e}")


def load_report(report_dir):
    """Case id -> index entry, from kosoku's index.json (one agent: the server under test)."""
    index = load_json(os.path.join(report_dir, "index.json"), "report index")
    if not isinstance(index, dict) or len(index) != 1:
        raise InputError(f"{report_dir}/index.json: expected exactly one agent, got {len(index)}")
    (cases,) = index.values()
    if not isinstance(cases, dict):
        raise InputError(f"{report_dir}/index.json: the agent's entry is not an object")
    return cases


def case_report(report_dir, entry):
    """The per-case JSON kosoku wrote next to index.json, or None."""
    name = entry.get("reportfile")
    if not name:
        return None
    try:
        with open(os.path.join(report_dir, name), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def why(report_dir, entry):
    """kosoku's own explanation of a verdict, for violation messages."""
    detail = case_report(report_dir, entry)
    if detail is None:
        return ""
    text = "; ".join(t for t in (detail.get("result"), detail.get("resultClose")) if t)
    return f" [kosoku: {text}]" if text else ""


def size_limit_problems(profile, report_dir, entry):
    """Why a FAILED case is not explained by the profile's size limit (empty if it is)."""
    limit = SIZE_LIMITS.get(profile)
    if limit is None:
        return [f"FAILED in the {profile} profile, which must fail no case"]
    problems = []
    code = entry.get("remoteCloseCode")
    if code != MESSAGE_TOO_BIG:
        problems.append(f"server close code {code}, not {MESSAGE_TOO_BIG} (message too big)")
    detail = case_report(report_dir, entry)
    if detail is None:
        return problems + [f"per-case report {entry.get('reportfile')!r} missing or unreadable"]
    for flag in (
        "wasOpenHandshakeTimeout",
        "wasCloseHandshakeTimeout",
        "wasServerConnectionDropTimeout",
    ):
        if detail.get(flag):
            problems.append(f"{flag} is set")
    if detail.get("closedByMe") is not False:
        problems.append("the server did not close first")
    if detail.get("wasClean") is not True:
        problems.append(f"the close was not clean ({detail.get('wasNotCleanReason')})")
    if detail.get("remoteCloseCode") != code:
        problems.append("index.json and the per-case report disagree on the close code")
    sent = sum(int(size) * count for size, count in (detail.get("txOctetStats") or {}).items())
    if sent <= limit:
        problems.append(f"the client sent only {sent} bytes in all, within the {limit}-byte limit")
    return problems


def verdicts(entry):
    return f"{entry.get('behavior')}/{entry.get('behaviorClose')}"


def violation(report_dir, case_id, entry, problems):
    """One line per case: its verdicts, every problem found, and kosoku's explanation."""
    return f"{case_id}: {verdicts(entry)}: {'; '.join(problems)}" + why(report_dir, entry)


def absolute_violations(profile, report_dir, cases):
    """Violations that do not depend on the expected file."""
    out = []
    for case_id in sorted(cases, key=case_key):
        entry = cases[case_id]
        if category(entry) == "FAILED":
            problems = size_limit_problems(profile, report_dir, entry)
            if problems:
                out.append(violation(report_dir, case_id, entry, problems))
    return out


def compare(profile, report_dir, cases, expected):
    violations, notes = [], []
    missing = sorted(set(expected) - set(cases), key=case_key)
    extra = sorted(set(cases) - set(expected), key=case_key)
    if missing or extra:
        violations.append(f"the report has {len(cases)} cases, the expected file {len(expected)}")
    for case_id in missing:
        violations.append(f"{case_id}: missing from the report")
    for case_id in extra:
        violations.append(f"{case_id}: not in the expected file (a new case? regenerate it)")
    for case_id in sorted(cases, key=case_key):
        got, want = cases[case_id], expected.get(case_id)
        problems = []
        if want is not None:
            for key in VERDICT_KEYS:
                g, w = got.get(key), want.get(key)
                if rank(g) < rank(w) or (rank(g) == 0 and g != w):
                    problems.append(f"{key} expected {w}")
                elif rank(g) > rank(w):
                    notes.append(f"{case_id}: {key} {g}, better than the expected {w}")
        if category(got) == "FAILED":
            if profile in SIZE_LIMITS and want is not None:
                # The close code of a size-limit failure is pinned exactly.
                if "remoteCloseCode" not in want:
                    problems.append("the expected file has no close code for it")
                elif got.get("remoteCloseCode") != want["remoteCloseCode"]:
                    problems.append(f"close code {got.get('remoteCloseCode')}, "
                                    f"expected {want['remoteCloseCode']}")
            # Whatever the expected file says, only a size-limit failure is allowed.
            problems += size_limit_problems(profile, report_dir, got)
        if problems:
            violations.append(violation(report_dir, case_id, got, problems))
    return violations, notes


def summary(profile, cases):
    counts = {c: 0 for c in CATEGORIES}
    for entry in cases.values():
        counts[category(entry)] += 1
    parts = ", ".join(f"{counts[c]} {c}" for c in CATEGORIES)
    return f"{profile}: {parts} ({len(cases)} cases)"


def expected_text(cases):
    """The expected file: one case per line, in case order, so diffs stay readable."""
    lines = []
    for case_id in sorted(cases, key=case_key):
        entry = cases[case_id]
        item = {k: entry.get(k) for k in VERDICT_KEYS}
        if category(entry) == "FAILED":
            item["remoteCloseCode"] = entry.get("remoteCloseCode")
        lines.append(f"  {json.dumps(case_id)}: {json.dumps(item)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv):
    args = [a for a in argv if a != "--write"]
    write = len(args) != len(argv)
    if len(args) != 3 or any(a.startswith("-") for a in args):
        print("\n\n".join(__doc__.strip().split("\n\n")[:2]), file=sys.stderr)
        return 2
    profile, report_dir, expected_path = args
    try:
        cases = load_report(report_dir)
        if write:
            problems = absolute_violations(profile, report_dir, cases)
            print(summary(profile, cases))
            for p in problems:
                print(f"{profile}: VIOLATION {p}")
            if problems:
                print(f"{profile}: not writing {expected_path}: {len(problems)} violations")
                return 1
            with open(expected_path, "w", encoding="utf-8") as f:
                f.write(expected_text(cases))
            print(f"{profile}: wrote {expected_path}")
            return 0
        expected = load_json(expected_path, "expected file")
        if not isinstance(expected, dict) or not all(isinstance(v, dict) for v in expected.values()):
            raise InputError(f"{expected_path}: expected an object of case id -> object")
    except InputError as e:
        print(f"{profile}: ERROR {e}")
        return 2
    violations, notes = compare(profile, report_dir, cases, expected)
    print(summary(profile, cases))
    for n in notes:
        print(f"{profile}: note {n}")
    if notes:
        print(f"{profile}: note: better than {expected_path}; regenerate it with --write "
              "(see tests/autobahn/README.md)")
    for v in violations[:MAX_SHOWN]:
        print(f"{profile}: VIOLATION {v}")
    if len(violations) > MAX_SHOWN:
        print(f"{profile}: ... and {len(violations) - MAX_SHOWN} more")
    if violations:
        print(f"{profile}: {len(violations)} violations against {expected_path}")
        return 1
    print(f"{profile}: matches {expected_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
