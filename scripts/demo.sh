#!/bin/sh
# `make run`: process the sample voicemail on the default pipeline
# (etc/local.ini: locate-file -> transcribe-sphinx -> notify-file).
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/.."
event=samples/connect-event.json
echo "== vmpipe run -c etc/local.ini $event"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
VMPIPE_OUTBOX="$(pwd)/$BUILD/outbox" VMPIPE_LOG_FORMAT=${VMPIPE_LOG_FORMAT:-text} "$BUILD/vmpipe" run -c etc/local.ini "$event" >"$out" || rc=$?
[ -s "$out" ] || { echo "vmpipe run failed (exit $rc)" >&2; exit "$rc"; }
/usr/bin/python3 - "$out" "$rc" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
t = job.get("transcript", {})
print()
print("== job %s: %s (exit %s)" % (job["id"], job.get("state"), sys.argv[2]))
print("caller:     %s" % job.get("contact", {}).get("caller"))
print("recording:  %s" % job.get("recording", {}).get("uri"))
print("transcript: [%s, %s, %.1f s of speech]" % (t.get("status"), t.get("engine"), t.get("speech_seconds", 0) or 0))
print("  " + (t.get("text") or "(none)"))
for n in job.get("notifications", []):
    print("notified:   %s via %s %s" % (n["stage"], n["transport"], n["message_id"]))
for e in job.get("errors", []):
    print("error:      [%s] %s: %s" % (e["stage"], e["kind"], e["message"]))
PY
echo "mail:       $(pwd)/$BUILD/outbox/$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$out").eml"
exit "$rc"
