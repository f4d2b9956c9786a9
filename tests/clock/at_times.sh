#!/usr/bin/env bash
# The whole suite with the wall clock moved to fixed New York times (libfaketime), to show no test depends on
# the time of day. Usage: tests/clock/at_times.sh [pytest args]. Needs faketime (Debian: apt-get install faketime).
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v faketime >/dev/null || { echo "at_times.sh: faketime is not installed (apt-get install faketime)" >&2; exit 2; }
PY=${PY:-.venv/bin/python}
times=("2026-12-02 09:00" "2026-12-02 12:00" "2026-12-02 15:45" "2026-12-02 17:00"
       "2026-12-05 09:00" "2026-12-05 12:00" "2026-12-05 15:45" "2026-12-05 17:00")
if [ -n "${AT_TIMES:-}" ]; then IFS=';' read -r -a times <<< "$AT_TIMES"; fi  # e.g. AT_TIMES="2026-12-02 15:45"
status=0
for t in "${times[@]}"; do
  target=$(TZ=America/New_York date -d "$t" +%s)
  offset=$(( target - $(date +%s) ))  # a relative offset: every process, started when it may, agrees on the time
  start=$(date +%s)
  log="${TMPDIR:-/tmp}/pairbot-at-$(echo "$t" | tr ' :' '_-').log"
  FAKETIME="${offset:+$( ((offset >= 0)) && echo "+" )}${offset}s" LD_PRELOAD=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 | head -1) \
        "$PY" -m pytest -q -n 2 -p no:cacheprovider "$@" > "$log" 2>&1
  rc=$?
  out="$(tail -1 "$log") (log: $log)"
  printf '%-28s %-4s %4ss  %s\n' "$t New York ($(TZ=America/New_York date -d "$t" +%a))" "$([ "$rc" = 0 ] && echo ok || echo FAIL)" \
         "$(( $(date +%s) - start ))" "$out"
  [ "$rc" = 0 ] || status=1
done
exit $status
