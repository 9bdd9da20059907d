#!/usr/bin/env bash
# End-to-end benchmark of logship (issue #7): the real binary, as a user runs it.
#
#   bench/e2e.sh [LINES] [LOGFILE]      (BENCH_NO_BUILD=1 skips the release build;
#                                         BENCH_PROFILE=debug uses the debug binaries)
#
# 1. Generates a deterministic Apache combined log of LINES lines (default 2,000,000, about
#    360 MB; bench/gen_apache_log.py, cached under $BENCH_DIR) unless LOGFILE is given (e.g. a
#    file of ../shared/corpus).
# 2. Starts the S3-compatible test server (s3s-fs, SigV4) on 127.0.0.1.
# 3. Runs `logship flush` (in_tail from the head -> apache2 parser -> file buffer, hourly time
#    slices, default chunk limit -> out_s3 gzip level 6 -> the server) under /usr/bin/time:
#    flush exits only when every line is in the bucket, so its wall time is "all lines in the
#    bucket".
# 4. Verifies: reads every object the server stored, decompresses it and counts the lines;
#    the count must equal the input's.
# 5. Baseline in the same run: `gzip -6` (and `pigz -6 -p2` when installed) over the exact
#    bytes logship uploaded before compression.
# 6. The same with `store_as zstd`.
# 7. The same (gzip) with the input split round-robin into 100 files tailed at once.
# 8. Steady state: `logship run` (the daemon) tails a file that bench/append_at_rate.py
#    appends to at a fixed rate (BENCH_STEADY_RATE lines/s, default 10,000, for
#    BENCH_STEADY_SECS, default 30), and the agent's CPU use is read from /proc while it runs:
#    the everyday cost on a web server. On SIGTERM it uploads what it holds, and the lines are
#    counted in the bucket as above.
#
# BENCH_SCENARIOS (default "gzip zstd files100 steady") picks the scenarios to run.
#
# Prints wall seconds, lines/s, input MB/s, CPU seconds (user+sys) per million lines, peak RSS,
# objects and their total size, the baseline times and logship's ratio to them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

LINES=${1:-2000000}
LOG_IN=${2:-}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/logship-bench}
mkdir -p "$BENCH_DIR"

# BENCH_PROFILE=debug runs the debug binaries instead: the short variant .ci/run runs, which
# checks that the script works and every line arrives; its timings are not a measurement.
PROFILE=${BENCH_PROFILE:-release}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $PROFILE in
  release) BUILD=(cargo build --release --locked -p logship -p logship-testkit --bins) ;;
  # The same features as `cargo test --workspace` (dev-dependencies included), so that after
  # the tests only the S3 server binary is left to link.
  debug) BUILD=(cargo build --locked --workspace --bins --tests) ;;
  *) echo "BENCH_PROFILE must be release or debug" >&2; exit 2 ;;
esac
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "== build ($PROFILE)"
  "${BUILD[@]}"
fi
LOGSHIP=$TARGET_DIR/$PROFILE/logship
S3SERVER=$TARGET_DIR/$PROFILE/logship-s3-server

if [ -z "$LOG_IN" ]; then
  LOG_IN=$BENCH_DIR/access_${LINES}.log
  if [ ! -s "$LOG_IN" ]; then
    echo "== generating $LINES lines into $LOG_IN"
    python3 bench/gen_apache_log.py "$LOG_IN.tmp" "$LINES"
    mv "$LOG_IN.tmp" "$LOG_IN"
  fi
fi
IN_LINES=$(wc -l <"$LOG_IN")
IN_BYTES=$(stat -c %s "$LOG_IN")
echo "input: $LOG_IN: $IN_LINES lines, $((IN_BYTES / 1000000)) MB"

SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

# Starts the S3 test server for work dir $1; sets SERVER_PID and PORT.
start_server() {
  local work=$1
  "$S3SERVER" --root "$work/bucket-root" --port-file "$work/port" >"$work/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  PORT=$(cat "$work/port")
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# The configuration of a run: $1 work dir, $2 path (glob) to tail, $3 store_as.
write_config() {
  local work=$1 path=$2 store_as=$3
  cat >"$work/logship.conf" <<EOF
<source>
  @type tail
  path $path
  pos_file $work/state/access.pos
  tag apache.access
  read_from_head true
  <parse>
    @type apache2
  </parse>
</source>
<match apache.access>
  @type s3
  aws_key_id LOGSHIPTESTKEY
  aws_sec_key logship-test-secret-key-0123456789
  s3_bucket bench
  s3_region us-east-1
  s3_endpoint http://127.0.0.1:$PORT
  force_path_style true
  path logs/
  store_as $store_as
  <buffer time>
    @type file
    path $work/state/buffer
    timekey 1h
  </buffer>
</match>
EOF
}

# Decompresses every object of work dir $1 (store_as $2) into $1/uploaded.txt in key order,
# checks the line count against $3 and prints the objects and their size.
verify_bucket() {
  local work=$1 store_as=$2 want=$3
  OBJECTS=$(find "$work/bucket-root/bench" -type f -path '*logs/*' | wc -l)
  OBJ_BYTES=$(find "$work/bucket-root/bench" -type f -path '*logs/*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  UNCOMPRESSED=$work/uploaded.txt
  : >"$UNCOMPRESSED"
  while IFS= read -r f; do
    case $store_as in
      gzip) gzip -dc "$f" >>"$UNCOMPRESSED" ;;
      zstd) zstd -qdc "$f" >>"$UNCOMPRESSED" ;;
    esac
  done < <(find "$work/bucket-root/bench" -type f -path '*logs/*' | sort)
  OUT_LINES=$(wc -l <"$UNCOMPRESSED")
  if [ "$OUT_LINES" != "$want" ]; then
    echo "MISMATCH: $want lines in, $OUT_LINES lines in the bucket" >&2
    exit 1
  fi
  printf '%s\n' "  all $OUT_LINES lines in the bucket: $OBJECTS objects, $((OBJ_BYTES / 1000000)) MB"
}

# One flush scenario: $1 name, $2 store_as (gzip|zstd), $3 number of input files (the input
# is split round-robin). Sets LAST_WALL for the baselines.
run_scenario() {
  local name=$1 store_as=$2 files=$3
  local work=$BENCH_DIR/run-$name
  rm -rf "$work"
  mkdir -p "$work/bucket-root/bench" "$work/state" "$work/in"
  if [ "$files" = 1 ]; then
    ln -s "$LOG_IN" "$work/in/access.log"
  else
    (cd "$work/in" && split -n "r/$files" -d -a 3 --additional-suffix=.log "$LOG_IN" access_)
  fi
  start_server "$work"
  write_config "$work" "$work/in/*.log" "$store_as"
  echo "== logship flush, store_as $store_as, $files input file(s)"
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
    "$LOGSHIP" flush -c "$work/logship.conf" --timeout 600 >"$work/flush.log" 2>&1 || {
      echo "logship flush failed:"; tail -20 "$work/flush.log"; exit 1; }
  stop_server

  read -r WALL USR SYS RSS_KB <"$work/time"
  verify_bucket "$work" "$store_as" "$IN_LINES"
  awk -v w="$WALL" -v u="$USR" -v s="$SYS" -v rss="$RSS_KB" -v n="$IN_LINES" -v b="$IN_BYTES" 'BEGIN {
    printf "  wall %.2f s | %.0f lines/s | %.1f MB/s input | CPU %.2f s (%.2f s per M lines) | peak RSS %.1f MiB\n",
      w, n / w, b / w / 1e6, u + s, (u + s) / (n / 1e6), rss / 1024 }'
  LAST_WALL=$WALL
}

# CPU seconds (user+sys) process $1 has used so far, from /proc/PID/stat.
cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Steady state: the daemon tails a file appended to at BENCH_STEADY_RATE lines/s.
run_steady() {
  local rate=${BENCH_STEADY_RATE:-10000} secs=${BENCH_STEADY_SECS:-30}
  local work=$BENCH_DIR/run-steady
  local want=$((rate * secs))
  rm -rf "$work"
  mkdir -p "$work/bucket-root/bench" "$work/state" "$work/in"
  : >"$work/in/access.log"
  start_server "$work"
  write_config "$work" "$work/in/*.log" gzip
  echo "== logship run (daemon); a writer appends $rate lines/s for $secs s"
  "$LOGSHIP" run -c "$work/logship.conf" >"$work/run.log" 2>&1 &
  local pid=$!
  sleep 1
  local c0 t0 c1 t1 c2 rss_kb
  c0=$(cpu_secs "$pid")
  t0=$(date +%s.%N)
  python3 bench/append_at_rate.py "$LOG_IN" "$work/in/access.log" "$rate" "$secs"
  sleep 2
  c1=$(cpu_secs "$pid")
  t1=$(date +%s.%N)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  c2=$c1
  while kill -0 "$pid" 2>/dev/null; do
    c2=$(cpu_secs "$pid" 2>/dev/null || echo "$c2")
    sleep 0.02
  done
  wait "$pid" || { echo "logship run exited non-zero:"; tail -20 "$work/run.log"; exit 1; }
  stop_server
  verify_bucket "$work" gzip "$want"
  awk -v c0="$c0" -v c1="$c1" -v c2="$c2" -v t0="$t0" -v t1="$t1" -v n="$want" -v rss="$rss_kb" 'BEGIN {
    ingest = c1 - c0; wall = t1 - t0
    printf "  while ingesting: %.2f CPU-s in %.1f s = %.2f%% of one core | peak RSS %.1f MiB\n",
      ingest, wall, 100 * ingest / wall, rss / 1024
    printf "  with the gzip + upload of those %d lines at shutdown: %.2f CPU-s = %.2f%% of one core on average\n",
      n, c2 - c0, 100 * (c2 - c0) / wall }'
}

report_baseline() {
  local file=$1 wall=$2 label=$3 level=$4
  local t
  t=$( { /usr/bin/time -f "%e" gzip "-$level" -c "$file" >/dev/null; } 2>&1 | tail -1)
  awk -v t="$t" -v w="$wall" -v l="$label" 'BEGIN {
    printf "  baseline gzip -6 (one core) of the uploaded bytes: %.2f s; %s / gzip = %.2fx; vs gzip spread over 2 cores (%.2f s): %.2fx\n",
      t, l, w / t, t / 2, w / (t / 2) }'
  if command -v pigz >/dev/null; then
    local p
    p=$( { /usr/bin/time -f "%e" pigz "-$level" -p2 -c "$file" >/dev/null; } 2>&1 | tail -1)
    awk -v p="$p" -v w="$wall" 'BEGIN { printf "  baseline pigz -6 -p2: %.2f s; logship / pigz = %.2fx\n", p, w / p }'
  fi
}

# How fast this machine deflates compared with the one issue #7's Fluent Bit figures were
# measured on (`gzip -6` of its 399 MB raw log: 7.0 s, 17.5 ms per MB): the same kind of
# machine varies from day to day by more than the changes being measured, so the gzip run's
# wall time is also shown scaled to that machine's speed.
report_machine_speed() {
  local wall=$1 t
  t=$( { /usr/bin/time -f "%e" gzip -6 -c "$LOG_IN" >/dev/null; } 2>&1 | tail -1)
  awk -v t="$t" -v b="$IN_BYTES" -v w="$wall" 'BEGIN {
    ms = 1000 * t / (b / 1e6); f = 17.5 / ms
    printf "  gzip -6 of the raw log: %.2f s (%.1f ms per MB; the reference machine: 17.5); logship wall at the reference speed: %.2f s\n",
      t, ms, w * f }'
}

SCENARIOS=${BENCH_SCENARIOS:-gzip zstd files100 steady}
for sc in $SCENARIOS; do
  case $sc in
    gzip)
      run_scenario gzip gzip 1
      report_baseline "$BENCH_DIR/run-gzip/uploaded.txt" "$LAST_WALL" logship 6
      report_machine_speed "$LAST_WALL"
      ;;
    zstd)
      run_scenario zstd zstd 1
      t=$( { /usr/bin/time -f "%e" zstd -q -3 -c "$BENCH_DIR/run-zstd/uploaded.txt" >/dev/null; } 2>&1 | tail -1)
      awk -v t="$t" -v w="$LAST_WALL" 'BEGIN { printf "  baseline zstd -3 (one core): %.2f s; logship / zstd = %.2fx\n", t, w / t }'
      ;;
    files100) run_scenario files100 gzip 100 ;;
    steady) run_steady ;;
    *) echo "unknown scenario: $sc (gzip, zstd, files100, steady)" >&2; exit 2 ;;
  esac
done
echo "reference (issue #7, Fluent Bit 5.1 on this machine kind, 2M lines/399 MB): 13-16 s, ~10 CPU-s per M lines, ~200 MiB RSS"
