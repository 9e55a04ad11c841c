#!/usr/bin/env bash
# Benchmarks against the physical limit (docs/BENCHMARKS.md), in one run, on one disk:
#   (a) limit  bench/limit/durable_replace.c: create temp 0600 -> write -> fsync -> rename -> fsync directory, nothing else
#   (b) save   FileCheckpoint.SaveAsync of a PostgreSQL offset (harness mode `bench-saves`), same record size
#   (c) group  manifest CheckpointCoordinator, 16 concurrent sources, group commit vs one manifest save per offset
#              (harness mode `bench-group-commit`, the two interleaved in blocks of 16 x 8 durable offsets)
#   (d) pg     PostgresCheckpointStore.SaveAsync vs a raw single-row UPSERT of the same row through Npgsql, on a
#              throwaway PostgreSQL 15 cluster (harness mode `bench-pg-store`, interleaved in blocks of ten)
#   (f) log    CheckpointLog.SaveAsync (the append-only log, docs/checkpoint-log-format.md) against both limits, the
#              durable replace above and bench/limit/append_fdatasync.c (pwrite a frame into a zero-filled segment,
#              fdatasync: the log's own limit), the three interleaved in blocks of ten (harness mode `bench-log-paired`)
#   (e) mysql  MySqlCheckpointStore.SaveAsync vs a raw single-row upsert of the same row through MySqlConnector, on a
#              throwaway MariaDB 10.11 (harness mode `bench-mysql-store`, interleaved in blocks of ten)
# (a) and (b) are interleaved in blocks of ten operations inside one run (harness mode `bench-paired`, the C program
# serving blocks over stdin), so that both see the same disk at the same moments; BENCH_ROUNDS such runs are made and
# each row reports the median over rounds of the per-round median, p90 and mean latency. Rates and ratios come from
# the mean latency (operations per second = 1e6 / mean µs): fsync latency on a shared disk is bimodal (a few ms, or
# ~20 ms when it waits for a journal commit), so a median flips between the modes while the mean, that is the
# throughput, stays put. The last line is always "save/limit ratio: X.XX": the median over rounds of
# (limit mean / save mean) of the same round, the fraction of the disk's durable-replace rate that FileCheckpoint
# achieves (1.00 = no overhead).
#
# usage: eng/bench.sh            (BENCH_SAVES=300 timed operations of each kind per round, BENCH_ROUNDS=5,
#                                 BENCH_DIR=artifacts/bench)
#        BENCH_PROFILE=1 eng/bench.sh   also count syscalls per save with strace -c (both programs)
#        BENCH_CONTROL=0 eng/bench.sh   skip the A/A control (the limit against itself, which measures the noise)
#        BENCH_NICE=-10 eng/bench.sh    run the measured programs at that nice level (both alike; below 0 needs root),
#                                       which keeps a busy shared machine's CPU contention out of the disk figures
#        BENCH_GROUP=0 / BENCH_PG=0 / BENCH_MYSQL_ROW=0 / BENCH_LOG=0   skip row (c) / row (d) / row (e) / row (f)
#        BENCH_LOG_ONLY=1               rows (a), (b) and (f) only (no control, tmpfs, (c), (d), (e))
#        BENCH_PG_DURABLE=0             skip the (d) pair run with fsync and synchronous_commit on
#        BENCH_PG_PREPARED=0            skip the (d) pair run with Npgsql's automatic preparation on both sides
#        BENCH_POSTGRES=CONNSTRING      run (d) on that server instead of a throwaway cluster (CDC_TEST_POSTGRES is
#                                       honoured too); the durable pair is then skipped (it changes server settings)
#        BENCH_MYSQL=CONNSTRING         run (e) on that server instead of a throwaway MariaDB (CDC_TEST_MYSQL too)
#
# Rows (c) and (d) print "group/per-save ratio" (per-save mean / group mean: how many times more durable offsets per
# second group commit makes) and "store/upsert ratio" (upsert mean / store mean), each the median over rounds of the
# ratio within a round, before the last line; row (e) prints "mysql store/upsert ratio" the same way.
# The tmpfs pair prints "tmpfs save/limit ratio" (tmpfs limit mean / tmpfs save mean, median over rounds): the share of
# a save that is the durable replace itself when fsync is nearly free (goal, issue 14: 0.8 or more). Row (f) prints
# "log/limit ratio" (durable-replace limit mean / log save mean: goal >= 2.0) and "log/append-limit ratio" (append
# limit mean / log save mean: goal >= 0.9).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

SAVES=${BENCH_SAVES:-300}
ROUNDS=${BENCH_ROUNDS:-5}
BENCH_DIR=${BENCH_DIR:-$ROOT/artifacts/bench}
HARNESS=$ROOT/tests/Cdc.Checkpoint.Torture/bin/Release/net10.0/Cdc.Checkpoint.Torture.dll
LIMIT=$BENCH_DIR/durable_replace
APPEND_LIMIT=$BENCH_DIR/append_fdatasync
if [ "${BENCH_LOG_ONLY:-0}" = 1 ]; then
  BENCH_CONTROL=0 BENCH_TMPFS=0 BENCH_GROUP=0 BENCH_PG=0 BENCH_MYSQL_ROW=0 BENCH_LOG=1
fi
NICE=(nice -n "${BENCH_NICE:-0}")
PG_DURABLE=${BENCH_PG_DURABLE:-1}
[ -z "${BENCH_POSTGRES:-}${CDC_TEST_POSTGRES:-}" ] || PG_DURABLE=0

mkdir -p "$BENCH_DIR"
chmod 700 "$BENCH_DIR"

# ---------------------------------------------------------------- build
echo "eng/bench.sh: building the harness and the limit program"
dotnet build tests/Cdc.Checkpoint.Torture/Cdc.Checkpoint.Torture.csproj -c Release -nologo -v quiet >/dev/null
cc -O2 -Wall -Wextra -Werror -o "$LIMIT" bench/limit/durable_replace.c
cc -O2 -Wall -Wextra -Werror -o "$APPEND_LIMIT" bench/limit/append_fdatasync.c

# ---------------------------------------------------------------- machine
echo "eng/bench.sh: machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "eng/bench.sh: disk:    $(df -hT "$BENCH_DIR" | awk 'NR == 2 { print $1 " " $2 ", " $3 " total, mounted on " $7 }')"
echo "eng/bench.sh: dir:     $BENCH_DIR ($SAVES timed operations per round, $ROUNDS rounds, nice ${BENCH_NICE:-0}, load average $(cut -d' ' -f1-3 /proc/loadavg))"

# ---------------------------------------------------------------- run
results=$BENCH_DIR/results.txt
cpu=$BENCH_DIR/cpu.txt
: >"$results"
: >"$cpu"

# run_case NAME COMMAND... : runs a program that prints lines "WORD N [record_bytes B] median_us M p90_us P mean_us A"
# and appends "NAME median p90 mean" to the results for each (NAME "-" takes the line's first word: limit or saves).
run_case() {
  local name=$1
  shift
  local output
  output=$("$@")
  sed 's/^/  /' <<<"$output"
  awk -v name="$name" '/ median_us / { for (i = 1; i < NF; i++) v[$i] = $(i + 1); print (name == "-" ? $1 : name), v["median_us"], v["p90_us"], v["mean_us"] }' <<<"$output" >>"$results"
  # (d) also reports CPU time per operation: "pg_cpu NAME client_us C server_us S" -> "pg_NAME C S" in $cpu.
  awk '$1 ~ /_cpu$/ && $3 == "client_us" { sub(/cpu$/, "", $1); print $1 $2, $4, $6 }' <<<"$output" >>"$cpu"
}

# The same pair on tmpfs, where fsync costs next to nothing: it isolates the library's own CPU and syscall overhead
# (what a save would cost on an infinitely fast disk). Skipped when /dev/shm is not there (BENCH_TMPFS=0 skips it too).
TMPFS_DIR=
if [ "${BENCH_TMPFS:-1}" = 1 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TMPFS_DIR=$(mktemp -d /dev/shm/cdc-bench.XXXXXX)
  trap 'rm -rf "$TMPFS_DIR"' EXIT
fi

for round in $(seq 1 "$ROUNDS"); do
  echo "eng/bench.sh: round $round/$ROUNDS"
  rm -rf "$BENCH_DIR/round"
  run_case - "${NICE[@]}" dotnet "$HARNESS" bench-paired "$BENCH_DIR/round" "$SAVES" "$LIMIT"
  if [ "${BENCH_CONTROL:-1}" = 1 ]; then
    # A/A control: the limit against a second copy of itself, interleaved the same way. Its ratio shows how much two
    # identical programs differ on this disk in this run: the noise floor of the save/limit ratio.
    rm -rf "$BENCH_DIR/round"
    "${NICE[@]}" dotnet "$HARNESS" bench-paired "$BENCH_DIR/round" "$SAVES" "$LIMIT" control | sed 's/^limit/control_limit/' >"$BENCH_DIR/control.txt"
    run_case - cat "$BENCH_DIR/control.txt"
  fi
  if [ -n "$TMPFS_DIR" ]; then
    # Ten times the operations: they are cheap here, and the runtime needs them to reach its optimised code.
    rm -rf "$TMPFS_DIR/round"
    "${NICE[@]}" dotnet "$HARNESS" bench-paired "$TMPFS_DIR/round" $(( SAVES * 10 )) "$LIMIT" | sed 's/^\(limit\|saves\)/tmpfs_\1/' >"$BENCH_DIR/tmpfs.txt"
    run_case - cat "$BENCH_DIR/tmpfs.txt"
  fi
  if [ "${BENCH_LOG:-1}" = 1 ]; then
    # (f) lines "log_limit ...", "append_limit ...", "log_saves ..." and "log_compactions N".
    rm -rf "$BENCH_DIR/logpair"
    run_case - "${NICE[@]}" dotnet "$HARNESS" bench-log-paired "$BENCH_DIR/logpair" "$SAVES" "$LIMIT" "$APPEND_LIMIT"
  fi
  if [ "${BENCH_GROUP:-1}" = 1 ]; then
    # (c) 16 sources on the same disk as (a)/(b); lines "group_commit ..." and "per_save_commit ...".
    rm -rf "$BENCH_DIR/manifest"
    run_case - "${NICE[@]}" dotnet "$HARNESS" bench-group-commit "$BENCH_DIR/manifest" "$SAVES" 16
  fi
  if [ "${BENCH_PG:-1}" = 1 ]; then
    # (d) lines "pg_store ...", "pg_raw_upsert ..." and "pg_server ..." (its settings). The throwaway cluster trades
    # durability for speed (fsync=off, synchronous_commit=off), which leaves round trips and server CPU: the harder
    # case for the store. The durable pair turns both on for its run, as on a production server.
    # A third interleaved case, pg_store_sql, sends the store's own statements bare (no guards, no parsing): what the
    # server does for them, apart from what the library adds.
    run_case - "${NICE[@]}" dotnet "$HARNESS" bench-pg-store "$SAVES"
    if [ "$PG_DURABLE" = 1 ]; then
      "${NICE[@]}" dotnet "$HARNESS" bench-pg-store "$SAVES" durable | sed 's/^pg_/pgsync_/' >"$BENCH_DIR/pgsync.txt"
      run_case - cat "$BENCH_DIR/pgsync.txt"
    fi
    if [ "${BENCH_PG_PREPARED:-1}" = 1 ]; then
      # Both sides with Npgsql's automatic preparation (Max Auto Prepare): no parsing and planning per statement.
      "${NICE[@]}" dotnet "$HARNESS" bench-pg-store "$SAVES" prepared | sed 's/^pg_/pgprep_/' >"$BENCH_DIR/pgprep.txt"
      run_case - cat "$BENCH_DIR/pgprep.txt"
    fi
  fi
  if [ "${BENCH_MYSQL_ROW:-1}" = 1 ]; then
    # (e) lines "mysql_store ...", "mysql_raw_upsert ...", "mysql_store_sql ..." (the store's one-statement UPDATE sent
    # bare) and "mysql_server ..." (its settings). The throwaway server
    # trades durability for speed (innodb_flush_log_at_trx_commit=2, sync_binlog=0), as (d)'s cluster does.
    run_case - "${NICE[@]}" dotnet "$HARNESS" bench-mysql-store "$SAVES"
  fi
done
rm -rf "$BENCH_DIR/round" "$BENCH_DIR/logpair" "$BENCH_DIR/manifest" "$BENCH_DIR/tmpfs.txt" "$BENCH_DIR/control.txt" "$BENCH_DIR/pgsync.txt" "$BENCH_DIR/pgprep.txt"

# ---------------------------------------------------------------- table
median_of() { # median_of NAME COLUMN -> the median over rounds of COLUMN (2 median, 3 p90, 4 mean), or empty
  awk -v name="$1" -v col="$2" '$1 == name { print $col }' "$results" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

row() { # row LABEL NAME BASELINE_NAME
  local median p90 mean base ratio rate
  median=$(median_of "$2" 2)
  if [ -z "$median" ]; then
    printf '| %-46s | %10s | %10s | %10s | %8s | %-22s |\n' "$1" "-" "-" "-" "-" "not measured (skipped)"
    return
  fi
  p90=$(median_of "$2" 3)
  mean=$(median_of "$2" 4)
  rate=$(awk -v m="$mean" 'BEGIN { printf "%.0f", 1e6 / m }')
  ratio=
  if [ -n "$3" ]; then
    base=$(median_of "$3" 4)
    [ -z "$base" ] || ratio=$(awk -v b="$base" -v m="$mean" 'BEGIN { printf "%.2f of %s", b / m, "'"$3"'" }')
  fi
  printf '| %-46s | %10s | %10s | %10s | %8s | %-22s |\n' "$1" "$median" "$p90" "$mean" "$rate" "$ratio"
}

echo
RECORD_BYTES=$(awk '$1 == "saves" { print $4; exit }' <(dotnet "$HARNESS" bench-saves "$BENCH_DIR/probe" 1))
rm -rf "$BENCH_DIR/probe"
printf '| %-46s | %10s | %10s | %10s | %8s | %-22s |\n' "case (record ~$RECORD_BYTES bytes)" "median µs" "p90 µs" "mean µs" "ops/s" "rate vs baseline"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------------------------" "------------" "------------" "------------" "----------" "------------------------"
row "(a) limit: C durable replace" limit ""
row "(b) FileCheckpoint.SaveAsync" saves limit
[ "${BENCH_CONTROL:-1}" != 1 ] || row "    control: the limit against itself (A/A)" control control_limit
[ -z "$TMPFS_DIR" ] || row "(a) limit on tmpfs (fsync nearly free)" tmpfs_limit ""
[ -z "$TMPFS_DIR" ] || row "(b) FileCheckpoint.SaveAsync on tmpfs" tmpfs_saves tmpfs_limit
row "(f) limit: C durable replace (same run)" log_limit ""
row "(f) limit: C append + fdatasync" append_limit ""
row "(f) CheckpointLog.SaveAsync (vs append limit)" log_saves append_limit
row "    CheckpointLog.SaveAsync vs durable replace" log_saves log_limit
row "(c) per durable offset: one save per offset" per_save_commit ""
row "(c) per durable offset: group commit (16)" group_commit per_save_commit
row "(d) raw single-row UPSERT (Npgsql)" pg_raw_upsert ""
row "(d) PostgresCheckpointStore.SaveAsync" pg_store pg_raw_upsert
row "    the store's statements sent bare" pg_store_sql pg_raw_upsert
[ "$PG_DURABLE" != 1 ] || row "(d) raw UPSERT, fsync + synchronous_commit on" pgsync_raw_upsert ""
[ "$PG_DURABLE" != 1 ] || row "(d) store SaveAsync, fsync + sync commit on" pgsync_store pgsync_raw_upsert
[ "${BENCH_PG_PREPARED:-1}" != 1 ] || row "(d) raw UPSERT, auto-prepared" pgprep_raw_upsert ""
[ "${BENCH_PG_PREPARED:-1}" != 1 ] || row "(d) store SaveAsync, auto-prepared" pgprep_store pgprep_raw_upsert
row "(e) raw single-row upsert (MySqlConnector)" mysql_raw_upsert ""
row "(e) MySqlCheckpointStore.SaveAsync" mysql_store mysql_raw_upsert
row "    the store's UPDATE sent bare" mysql_store_sql mysql_raw_upsert
echo

if [ -s "$cpu" ]; then
  # CPU time per operation, median over rounds: this process (all threads) and the server backend (/proc schedstat).
  # On a shared machine wall time is mostly waiting to be scheduled; CPU time shows the work each side costs.
  cpu_of() { awk -v name="$1" -v col="$2" '$1 == name && $col != "unavailable" { print $col }' "$cpu" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
  printf '| %-46s | %12s | %12s | %14s |\n' "(d) CPU time per operation" "client µs" "server µs" "server vs raw"
  printf '|%s|%s|%s|%s|\n' "------------------------------------------------" "--------------" "--------------" "----------------"
  for prefix in pg pgsync pgprep; do
    for name in raw_upsert store store_sql; do
      client=$(cpu_of "${prefix}_$name" 2)
      [ "$client" != "-" ] || continue
      server=$(cpu_of "${prefix}_$name" 3)
      base=$(cpu_of "${prefix}_raw_upsert" 3)
      ratio=$(awk -v b="$base" -v s="$server" 'BEGIN { if (b + 0 > 0 && s + 0 > 0) printf "%.2f", b / s; else print "-" }')
      printf '| %-46s | %12s | %12s | %14s |\n' "${prefix}_$name" "$client" "$server" "$ratio"
    done
  done
  echo
fi

# ---------------------------------------------------------------- profile
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  command -v strace >/dev/null || { echo "eng/bench.sh: BENCH_PROFILE needs strace (apt-get install -y strace)" >&2; exit 1; }
  # Syscalls per operation = (count at N2 - count at N1) / (operations at N2 - operations at N1): start-up, JIT and
  # warm-up cancel out. Operations include the warm-up of max(20, N/10).
  n1=100 n2=300
  ops() { local w=$(( $1 / 10 )); [ "$w" -ge 20 ] || w=20; echo $(( $1 + w )); }
  profile() { # profile NAME N COMMAND... -> strace -c summary file
    local out=$BENCH_DIR/strace-$1-$2.txt
    rm -rf "$BENCH_DIR/p"
    mkdir -m 700 "$BENCH_DIR/p"
    shift 2
    strace -f -c -o "$out" "$@" >/dev/null
  }
  for n in $n1 $n2; do
    # (RECORD_BYTES from the table above)
    profile limit "$n" "$LIMIT" "$BENCH_DIR/p" "$n" "$RECORD_BYTES"
    profile save "$n" dotnet "$HARNESS" bench-saves "$BENCH_DIR/p" "$n"
  done
  rm -rf "$BENCH_DIR/p"
  d=$(( $(ops $n2) - $(ops $n1) ))
  echo "syscalls per operation (strace -c, difference of $n2 and $n1 timed operations):"
  for name in limit save; do
    echo "  $name:"
    join -j 1 -a 2 -e 0 -o 0,1.2,2.2 \
      <(awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$BENCH_DIR/strace-$name-$n1.txt" | sort) \
      <(awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$BENCH_DIR/strace-$name-$n2.txt" | sort) \
      | awk -v d="$d" '{ per = ($3 - $2) / d; if (per >= 0.05) printf "    %-16s %6.2f\n", $1, per }' | sort -k2 -gr
  done
  echo
fi

# Per-round ratios: each pairs a limit run and a save run taken back to back on the same disk.
ratios=$(awk '$1 == "limit" { l[++nl] = $4 } $1 == "saves" { s[++ns] = $4 } END { for (i = 1; i <= nl && i <= ns; i++) printf "%.2f\n", l[i] / s[i] }' "$results")
echo "per-round save/limit ratios: $(tr '\n' ' ' <<<"$ratios")"
if [ "${BENCH_CONTROL:-1}" = 1 ]; then
  control=$(awk '$1 == "control_limit" { l[++nl] = $4 } $1 == "control" { s[++ns] = $4 } END { for (i = 1; i <= nl && i <= ns; i++) printf "%.2f ", l[i] / s[i] }' "$results")
  echo "per-round control (limit/limit) ratios, the noise floor: $control"
fi
# paired_ratios BASE_NAME NAME -> per-round (BASE mean / NAME mean), one per line
paired_ratios() {
  awk -v b="$1" -v n="$2" '$1 == b { l[++nl] = $4 } $1 == n { s[++ns] = $4 } END { for (i = 1; i <= nl && i <= ns; i++) printf "%.2f\n", l[i] / s[i] }' "$results"
}
median_line() { sort -g | awk 'NF { v[++n] = $1 } END { if (n) printf "%.2f", v[int((n + 1) / 2)]; else printf "not measured" }'; }
group=$(paired_ratios per_save_commit group_commit)
store=$(paired_ratios pg_raw_upsert pg_store)
storesql=$(paired_ratios pg_raw_upsert pg_store_sql)
storesync=$(paired_ratios pgsync_raw_upsert pgsync_store)
storeprep=$(paired_ratios pgprep_raw_upsert pgprep_store)
mysqlstore=$(paired_ratios mysql_raw_upsert mysql_store)
[ -z "$group" ] || echo "per-round group/per-save ratios: $(tr '\n' ' ' <<<"$group")"
[ -z "$store" ] || echo "per-round store/upsert ratios: $(tr '\n' ' ' <<<"$store")"
[ -z "$storesql" ] || echo "per-round (store's statements bare)/upsert ratios: $(tr '\n' ' ' <<<"$storesql")"
[ -z "$storesync" ] || echo "per-round store/upsert ratios, fsync + synchronous_commit on: $(tr '\n' ' ' <<<"$storesync")"
[ -z "$storeprep" ] || echo "per-round store/upsert ratios, auto-prepared: $(tr '\n' ' ' <<<"$storeprep")"
[ -z "$mysqlstore" ] || echo "per-round mysql store/upsert ratios: $(tr '\n' ' ' <<<"$mysqlstore")"
echo "group/per-save ratio: $(median_line <<<"$group")"
[ -z "$storesql" ] || echo "(store's statements bare)/upsert ratio: $(median_line <<<"$storesql")"
[ -z "$storesync" ] || echo "store/upsert ratio, fsync + synchronous_commit on: $(median_line <<<"$storesync")"
[ -z "$storeprep" ] || echo "store/upsert ratio, auto-prepared: $(median_line <<<"$storeprep")"
echo "store/upsert ratio: $(median_line <<<"$store")"
echo "mysql store/upsert ratio: $(median_line <<<"$mysqlstore")"
# tmpfs pair (issue 14 item 4): the save against the C loop where fsync is nearly free, i.e. the library's own cost.
tmpfsratios=$(paired_ratios tmpfs_limit tmpfs_saves)
if [ -n "$tmpfsratios" ]; then
  echo "per-round tmpfs save/limit ratios: $(tr '\n' ' ' <<<"$tmpfsratios")"
  echo "tmpfs save/limit ratio: $(median_line <<<"$tmpfsratios")"
fi
logratio=$(paired_ratios log_limit log_saves)
appendratio=$(paired_ratios append_limit log_saves)
[ -z "$logratio" ] || echo "per-round log/limit ratios: $(tr '\n' ' ' <<<"$logratio")"
[ -z "$appendratio" ] || echo "per-round log/append-limit ratios: $(tr '\n' ' ' <<<"$appendratio")"
[ -z "$logratio" ] || echo "log/limit ratio: $(median_line <<<"$logratio")"
[ -z "$appendratio" ] || echo "log/append-limit ratio: $(median_line <<<"$appendratio")"
echo "save/limit ratio: $(sort -g <<<"$ratios" | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }')"
