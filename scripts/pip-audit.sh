#!/usr/bin/env bash
# pip-audit on the pinned dependencies (constraints.txt): fails on a known vulnerability, and prints a clear
# "pip-audit: skipped: <reason>" (exit 0) when no vulnerability database can be reached, so CI without that
# service still passes. A run where the database answered for no package at all counts as skipped, never
# as clean (a package index that has no vulnerability API answers "not found" for every package).
#
#   bash scripts/pip-audit.sh [requirements-file]     (default: constraints.txt)
# Environment: PIP_AUDIT (the executable; default .venv/bin/pip-audit, else pip-audit on PATH),
# PIP_AUDIT_SERVICES (tried in order, default "pypi osv"), PIP_AUDIT_TIMEOUT (seconds per service, default 120).
set -uo pipefail
cd "$(dirname "$0")/.."
req="${1:-constraints.txt}"
exe="${PIP_AUDIT:-}"
if [ -z "$exe" ]; then
  if [ -x .venv/bin/pip-audit ]; then exe=.venv/bin/pip-audit; else exe="$(command -v pip-audit || true)"; fi
fi
if [ -z "$exe" ]; then
  echo "pip-audit: skipped: pip-audit is not installed (make venv installs it)"
  exit 0
fi
py="$(dirname "$exe")/python"; [ -x "$py" ] || py=python3
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
reasons=()
for service in ${PIP_AUDIT_SERVICES:-pypi osv}; do
  rm -f "$tmp/out.json"
  timeout "${PIP_AUDIT_TIMEOUT:-120}" "$exe" -r "$req" --no-deps --disable-pip --progress-spinner off \
    -s "$service" -f json -o "$tmp/out.json" >"$tmp/stdout" 2>"$tmp/stderr"
  rc=$?
  # exit 0 clean, 1 vulnerabilities found (JSON written), anything else: the service could not be used
  verdict="$("$py" - "$tmp/out.json" "$service" "$rc" <<'PY'
import json, sys
path, service, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    deps = json.load(open(path))["dependencies"]
except (OSError, ValueError, KeyError):
    print(f"unreachable\t{service}: no report (exit {rc})")
    sys.exit()
audited = [d for d in deps if "skip_reason" not in d]
vulns = [(d["name"], d["version"], v) for d in audited for v in d.get("vulns", [])]
if vulns:
    for name, version, v in vulns:
        fix = ", ".join(v.get("fix_versions") or []) or "none yet"
        ids = ", ".join([v["id"], *v.get("aliases", [])])
        print(f"vuln\t{name}=={version}: {ids} (fixed in: {fix})")
elif not audited:
    reason = deps[0]["skip_reason"] if deps else "nothing to audit"
    print(f"unreachable\t{service}: no package could be audited ({len(deps)} skipped, e.g. {reason!r})")
else:
    skipped = len(deps) - len(audited)
    print(f"clean\t{service}: {len(audited)} pinned packages, no known vulnerability"
          + (f" ({skipped} could not be audited)" if skipped else ""))
PY
)"
  kind="${verdict%%$'\t'*}"
  case "$kind" in
    vuln)
      echo "pip-audit: FAILED: known vulnerabilities in $req (service $service):"
      printf '%s\n' "$verdict" | cut -f2- | sed 's/^/  /'
      exit 1 ;;
    clean)
      echo "pip-audit: ok: ${verdict#*$'\t'}"
      exit 0 ;;
    *)
      last=""
      [ -s "$tmp/out.json" ] || last="$(grep -v '^\s*$' "$tmp/stderr" | tail -1 | cut -c1-160)"
      reasons+=("${verdict#*$'\t'}${last:+: $last}") ;;
  esac
done
echo "pip-audit: skipped: no vulnerability database reachable ($(IFS='|'; echo "${reasons[*]}" | sed 's/|/; /g'))"
exit 0
