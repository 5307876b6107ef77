#!/usr/bin/env bash
# Every check of the monitoring configuration, one line each; exits non-zero when any fails.
#
#   bash monitoring/routes_test.sh        (from the repository root)
#
# Needs promtool (Prometheus >= 2.42) and amtool (Alertmanager >= 0.25): Debian's `prometheus` and
# `prometheus-alertmanager` packages. When the `prometheus-alertmanager` binary is there as well, the
# inhibition rules are tested on a throw-away Alertmanager on 127.0.0.1 (no receiver: nothing is sent).
# promtool's rule tests replay up to a week of samples: the whole script takes a minute or two.
set -euo pipefail

cd "$(dirname "$0")/.."
M=monitoring
AM_CONFIG=$M/alertmanager.yml
failures=0
tmp=$(mktemp -d)
am_pid=""
cleanup() {
  if [[ -n "$am_pid" ]]; then kill "$am_pid" 2>/dev/null || true; wait "$am_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

pass() { printf 'ok    %s\n' "$1"; }
fail() {
  printf 'FAIL  %s\n' "$1"
  if [[ -s "$tmp/out" ]]; then sed 's/^/      /' "$tmp/out"; fi
  failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: runs the command, prints one line, and its output when it fails.
check() {
  local what=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then pass "$what"; else fail "$what"; fi
}

for tool in promtool amtool; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL  $tool not found (Debian: apt-get install prometheus prometheus-alertmanager)"
    exit 1
  fi
done

# --- Prometheus -----------------------------------------------------------------------------------------
check "promtool check rules $M/alerts.yml" promtool check rules "$M/alerts.yml"
check "promtool test rules $M/alerts_test.yml" promtool test rules "$M/alerts_test.yml"

# prometheus.yml reads the bearer token from /prometheus/metrics-token, which exists only in the
# container (promtool checks that it is there): check a copy that points at a temporary file.
mkdir "$tmp/prom"
: >"$tmp/prom/metrics-token"
sed "s#credentials_file: /prometheus/metrics-token#credentials_file: $tmp/prom/metrics-token#" \
  "$M/prometheus.yml" >"$tmp/prom/prometheus.yml"
cp "$M/alerts.yml" "$tmp/prom/alerts.yml"
check "promtool check config $M/prometheus.yml (token file: a temporary one)" \
  promtool check config "$tmp/prom/prometheus.yml"

# Every alert: a known severity and team, a runbook_url to its own anchor, and that section in RUNBOOK.md.
lint_alerts() {
  awk -v runbook="$M/RUNBOOK.md" '
    function finish() {
      if (name == "") return
      if (sev !~ /^(critical|warning|info)$/) { print name ": severity \"" sev "\""; bad++ }
      if (team !~ /^(trading|dev|ops|business)$/) { print name ": team \"" team "\""; bad++ }
      want = "https://github.com/trendy/trendy/blob/main/monitoring/RUNBOOK.md#" tolower(name)
      if (url != want) { print name ": runbook_url \"" url "\", want \"" want "\""; bad++ }
      if (!(name in headings)) { print name ": no \"## " name "\" section in " runbook; bad++ }
    }
    BEGIN {
      while ((getline line < runbook) > 0) if (line ~ /^## /) { sub(/^## +/, "", line); sub(/ +$/, "", line); headings[line] = 1 }
    }
    /^ *- alert: / { finish(); name = $3; sev = team = url = ""; next }
    /^ *severity: / { sev = $2 }
    /^ *team: / { team = $2 }
    /^ *runbook_url: / { url = $2; gsub(/"/, "", url) }
    END { finish(); exit bad > 0 }
  ' "$M/alerts.yml"
}
check "every alert has severity, team, runbook_url and a RUNBOOK.md section" lint_alerts

# --- Alertmanager ---------------------------------------------------------------------------------------
check "amtool check-config $AM_CONFIG" amtool check-config "$AM_CONFIG"

# route EXPECTED_RECEIVERS LABEL=VALUE...
route() {
  local want=$1
  shift
  check "route $* -> $want" \
    amtool config routes test --config.file="$AM_CONFIG" --verify.receivers="$want" "$@"
}
route critical,trading-team  severity=critical team=trading alertname=ExchangeAPIDown exchange=binance
route critical,dev-team      severity=critical team=dev alertname=HighErrorRate
route critical,ops-team      severity=critical team=ops alertname=DatabaseDown
route critical,business-team severity=critical team=business
route critical,ops-team      severity=critical alertname=SomethingWithoutTeam
route trading-team           severity=warning team=trading alertname=HighOrderFailureRate exchange=okx
route dev-team               severity=warning team=dev alertname=SlowAPIResponse
route dev-team               severity=info team=dev alertname=LowCacheHitRate
route ops-team               severity=warning team=ops alertname=DiskSpaceLow
route business-team          severity=info team=business alertname=UnusualTradingVolume exchange=binance
route ops-team               severity=warning alertname=SomethingWithoutTeam
route ops-team               severity=warning team=marketing

# Every alert of alerts.yml reaches the critical receiver when critical, and its team's receiver.
alert_routes() {
  local ok=0 name sev team want
  while read -r name sev team; do
    want="$team-team"
    [[ $sev == critical ]] && want="critical,$want"
    if ! amtool config routes test --config.file="$AM_CONFIG" --verify.receivers="$want" \
      alertname="$name" severity="$sev" team="$team" >/dev/null 2>&1; then
      echo "$name (severity=$sev team=$team) does not reach $want"
      ok=1
    fi
  done < <(awk '
    /^ *- alert: / { if (name != "") print name, sev, team; name = $3 }
    /^ *severity: / { sev = $2 }
    /^ *team: / { team = $2 }
    END { if (name != "") print name, sev, team }
  ' "$M/alerts.yml")
  return $ok
}
check "every rule of alerts.yml routes to its team (and to critical when critical)" alert_routes

# --- Inhibitions, on a throw-away Alertmanager ----------------------------------------------------------
if ! command -v prometheus-alertmanager >/dev/null && ! command -v alertmanager >/dev/null; then
  echo "skip  inhibition rules (no alertmanager binary: apt-get install prometheus-alertmanager)"
else
  am_bin=$(command -v prometheus-alertmanager || command -v alertmanager)
  # The same global, route and inhibit_rules; receivers without integrations, so nothing is sent.
  mkdir "$tmp/am"
  awk '/^receivers:/ { exit } { print }' "$AM_CONFIG" >"$tmp/am/alertmanager.yml"
  printf 'receivers:\n' >>"$tmp/am/alertmanager.yml"
  for r in critical trading-team dev-team ops-team business-team; do
    printf '  - name: %s\n' "$r" >>"$tmp/am/alertmanager.yml"
  done
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  "$am_bin" --config.file="$tmp/am/alertmanager.yml" --storage.path="$tmp/am/data" \
    --web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$tmp/am/log" 2>&1 &
  am_pid=$!
  for _ in $(seq 50); do
    curl -fsS "$url/-/ready" >/dev/null 2>&1 && break
    sleep 0.2
  done
  # Sources and targets at once; each target below says whether it must end up inhibited.
  alerts='[
    {"labels": {"alertname": "ExchangeAPIDown", "severity": "critical", "team": "trading", "exchange": "binance"}},
    {"labels": {"alertname": "HighOrderFailureRate", "severity": "warning", "team": "trading", "exchange": "binance"}},
    {"labels": {"alertname": "HighOrderFailureRate", "severity": "warning", "team": "trading", "exchange": "okx"}},
    {"labels": {"alertname": "WebhookAlertToFillSlow", "severity": "warning", "team": "trading", "exchange": "binance"}},
    {"labels": {"alertname": "CriticalDrawdown", "severity": "critical", "team": "trading", "exchange": "kraken"}},
    {"labels": {"alertname": "HighDrawdown", "severity": "warning", "team": "trading", "exchange": "kraken"}},
    {"labels": {"alertname": "BackendDown", "severity": "critical", "team": "ops", "job": "trendy-web", "instance": "web:8000"}},
    {"labels": {"alertname": "HighErrorRate", "severity": "critical", "team": "dev"}},
    {"labels": {"alertname": "NoTradingActivity", "severity": "warning", "team": "trading"}},
    {"labels": {"alertname": "DatabaseDown", "severity": "critical", "team": "ops", "instance": "postgres-exporter:9187"}},
    {"labels": {"alertname": "LongRunningTransaction", "severity": "warning", "team": "ops", "instance": "postgres-exporter:9187", "datname": "trendy"}},
    {"labels": {"alertname": "CeleryBeatDown", "severity": "critical", "team": "ops"}},
    {"labels": {"alertname": "TradingLoopStalled", "severity": "critical", "team": "trading"}},
    {"labels": {"alertname": "DiskSpaceLow", "severity": "critical", "team": "ops", "instance": "node-exporter:9100", "mountpoint": "/var/lib/docker"}},
    {"labels": {"alertname": "DiskSpaceLow", "severity": "warning", "team": "ops", "instance": "node-exporter:9100", "mountpoint": "/var/lib/docker"}},
    {"labels": {"alertname": "DiskSpaceLow", "severity": "warning", "team": "ops", "instance": "node-exporter:9100", "mountpoint": "/"}},
    {"labels": {"alertname": "HighCPUUsage", "severity": "warning", "team": "ops", "instance": "node-exporter:9100"}}
  ]'
  if ! curl -fsS -H 'Content-Type: application/json' -d "$alerts" "$url/api/v2/alerts" >"$tmp/out" 2>&1; then
    cat "$tmp/am/log" >>"$tmp/out"
    fail "post test alerts to a throw-away Alertmanager"
  else
    sleep 1   # the inhibitor reads new alerts asynchronously
    curl -fsS "$url/api/v2/alerts?inhibited=true&silenced=true&active=true" >"$tmp/am/alerts.json"
    # inhibited EXPECTED LABELS: EXPECTED is yes or no; LABELS (JSON) pick the one alert.
    inhibited() {
      local want=$1 labels=$2 got
      got=$(jq -r --argjson want "$labels" '
        [.[] | select(.labels as $have | $want | to_entries | all(($have[.key] // "") == .value))]
        | if length != 1 then "\(length) alerts match"
          elif (.[0].status.inhibitedBy | length) > 0 then "yes" else "no" end
      ' "$tmp/am/alerts.json")
      : >"$tmp/out"
      if [[ $got == "$want" ]]; then
        pass "inhibited=$want: $labels"
      else
        echo "got: $got" >"$tmp/out"
        fail "inhibited=$want: $labels"
      fi
    }
    inhibited yes '{"alertname":"HighOrderFailureRate","exchange":"binance"}'     # ExchangeAPIDown, same exchange
    inhibited no  '{"alertname":"HighOrderFailureRate","exchange":"okx"}'         # another exchange
    inhibited yes '{"alertname":"WebhookAlertToFillSlow","exchange":"binance"}'   # any critical on the same exchange
    inhibited yes '{"alertname":"HighDrawdown","exchange":"kraken"}'              # CriticalDrawdown
    inhibited yes '{"alertname":"HighErrorRate"}'                                 # BackendDown
    inhibited yes '{"alertname":"NoTradingActivity"}'                             # BackendDown
    inhibited no  '{"alertname":"CeleryBeatDown"}'                                # BackendDown leaves it visible
    inhibited yes '{"alertname":"LongRunningTransaction"}'                        # DatabaseDown
    inhibited yes '{"alertname":"TradingLoopStalled"}'                            # CeleryBeatDown
    inhibited yes '{"alertname":"DiskSpaceLow","severity":"warning","mountpoint":"/var/lib/docker"}'  # critical, same mount
    inhibited no  '{"alertname":"DiskSpaceLow","severity":"warning","mountpoint":"/"}'                # another mount point
    inhibited no  '{"alertname":"HighCPUUsage"}'                                  # criticals without exchange hide nothing else
    inhibited no  '{"alertname":"ExchangeAPIDown"}'                               # sources stay visible
  fi
fi

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
