#!/usr/bin/env bash
# End-to-end benchmark of logship (issue #7): the real binary, as a user runs it.
#
#   bench/e2e.sh [LINES] [LOGFILE]      (BENCH_NO_BUILD=1 skips the release build)
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

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "== build (release)"
  cargo build --release --locked -p logship -p logship-testkit --bins
fi
LOGSHIP=$ROOT/target/release/logship
S3SERVER=$ROOT/target/release/logship-s3-server

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

# One scenario: $1 = store_as (gzip|zstd). Sets globals for the summary.
run_scenario() {
  local store_as=$1
  local work=$BENCH_DIR/run-$store_as
  rm -rf "$work"
  mkdir -p "$work/bucket-root/bench" "$work/state"
  ln -s "$LOG_IN" "$work/access_log"

  "$S3SERVER" --root "$work/bucket-root" --port-file "$work/port" >"$work/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  local port
  port=$(cat "$work/port")

  cat >"$work/logship.conf" <<EOF
<source>
  @type tail
  path $work/access_log
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
  s3_endpoint http://127.0.0.1:$port
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
  echo "== logship flush, store_as $store_as"
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
    "$LOGSHIP" flush -c "$work/logship.conf" --timeout 600 >"$work/flush.log" 2>&1 || {
      echo "logship flush failed:"; tail -20 "$work/flush.log"; exit 1; }
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=

  read -r WALL USR SYS RSS_KB <"$work/time"
  OBJECTS=$(find "$work/bucket-root/bench" -type f -path '*logs/*' | wc -l)
  OBJ_BYTES=$(find "$work/bucket-root/bench" -type f -path '*logs/*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  # The exact bytes logship uploaded before compression, in key order.
  UNCOMPRESSED=$work/uploaded.txt
  : >"$UNCOMPRESSED"
  while IFS= read -r f; do
    case $store_as in
      gzip) gzip -dc "$f" >>"$UNCOMPRESSED" ;;
      zstd) zstd -qdc "$f" >>"$UNCOMPRESSED" ;;
    esac
  done < <(find "$work/bucket-root/bench" -type f -path '*logs/*' | sort)
  OUT_LINES=$(wc -l <"$UNCOMPRESSED")
  if [ "$OUT_LINES" != "$IN_LINES" ]; then
    echo "MISMATCH: $IN_LINES lines in, $OUT_LINES lines in the bucket" >&2
    exit 1
  fi
  printf '%s\n' "  all $OUT_LINES lines in the bucket: $OBJECTS objects, $((OBJ_BYTES / 1000000)) MB"
  awk -v w="$WALL" -v u="$USR" -v s="$SYS" -v rss="$RSS_KB" -v n="$IN_LINES" -v b="$IN_BYTES" 'BEGIN {
    printf "  wall %.2f s | %.0f lines/s | %.1f MB/s input | CPU %.2f s (%.2f s per M lines) | peak RSS %.1f MiB\n",
      w, n / w, b / w / 1e6, u + s, (u + s) / (n / 1e6), rss / 1024 }'
  LAST_WALL=$WALL
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

run_scenario gzip
report_baseline "$BENCH_DIR/run-gzip/uploaded.txt" "$LAST_WALL" logship 6
run_scenario zstd
t=$( { /usr/bin/time -f "%e" zstd -q -3 -c "$BENCH_DIR/run-zstd/uploaded.txt" >/dev/null; } 2>&1 | tail -1)
awk -v t="$t" -v w="$LAST_WALL" 'BEGIN { printf "  baseline zstd -3 (one core): %.2f s; logship / zstd = %.2fx\n", t, w / t }'
echo "reference (issue #7, Fluent Bit 5.1 on this machine kind, 2M lines/399 MB): 13-16 s, ~10 CPU-s per M lines, ~200 MiB RSS"
