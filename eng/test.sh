#!/usr/bin/env bash
# Builds Cdc.sln once and runs every tests/*/*.Tests.csproj, installing the servers the integration tests start
# (PostgreSQL 15, MariaDB, strace) only when they are missing. The last line is always
# "N passed, N failed, N skipped", totalled from the TRX files; the exit code is non-zero when any test failed,
# any `dotnet test` failed, or a project left no TRX file.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export CI=${CI:-}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DEBIAN_FRONTEND=noninteractive

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RESULTS=$ROOT/artifacts/test-results

# ---------------------------------------------------------------- prerequisites
# The tests reach MariaDB through MySqlConnector (a NuGet package); only the server itself comes from Debian.
have_mariadb() {
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]
}

missing=()
[ -x "$PG_BIN/initdb" ] || missing+=(postgresql-15)
have_mariadb || missing+=(mariadb-server)
command -v strace >/dev/null 2>&1 || missing+=(strace)
have_ceph_rgw() { command -v radosgw >/dev/null 2>&1 && command -v ceph-mon >/dev/null 2>&1 && command -v ceph-osd >/dev/null 2>&1; }
have_ceph_rgw || missing+=(radosgw ceph-mon ceph-osd)   # the S3 tests' throwaway Ceph RADOS Gateway

if [ ${#missing[@]} -gt 0 ]; then
  echo "eng/test.sh: installing ${missing[*]}"
  SUDO=
  [ "$(id -u)" = 0 ] || SUDO=sudo
  # Package scripts must not start system services: the tests start their own private servers. A
  # policy-rc.d that answers 101 ("action forbidden") is the Debian way to say so; keep one that is already there.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
  fi
  online_before=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1 "/" $2 }' || true)
  apt_status=0
  {
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq \
      && $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
  } || apt_status=$?
  [ -z "$own_policy" ] || $SUDO rm -f "$policy"
  [ "$apt_status" = 0 ] || { echo "eng/test.sh: apt-get failed ($apt_status) installing ${missing[*]}" >&2; exit "$apt_status"; }

  # If an install created and started a cluster or a server anyway, stop what it started (and only that).
  for cluster in $(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1 "/" $2 }' || true); do
    if ! grep -qxF "$cluster" <<<"$online_before"; then
      echo "eng/test.sh: stopping PostgreSQL cluster $cluster started by the package install"
      $SUDO pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop || true
    fi
  done
  if [[ " ${missing[*]} " == *" mariadb-server "* ]] && command -v mariadb-admin >/dev/null 2>&1 \
     && mariadb-admin --no-defaults --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
    echo "eng/test.sh: stopping the MariaDB service started by the package install"
    $SUDO service mariadb stop || true
  fi

  [ -x "$PG_BIN/initdb" ] || { echo "eng/test.sh: $PG_BIN/initdb is still missing after installing postgresql-15" >&2; exit 1; }
  have_mariadb || { echo "eng/test.sh: mariadbd is still missing after installing mariadb-server" >&2; exit 1; }
  have_ceph_rgw || { echo "eng/test.sh: radosgw, ceph-mon or ceph-osd still missing after installing radosgw ceph-mon ceph-osd" >&2; exit 1; }
fi

# ---------------------------------------------------------------- build once
dotnet build Cdc.sln -c Release -nologo

# ---------------------------------------------------------------- test every project
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
failed_projects=()
shopt -s nullglob
projects=(tests/*/*.Tests.csproj)
[ ${#projects[@]} -gt 0 ] || { echo "eng/test.sh: no tests/*/*.Tests.csproj found" >&2; exit 1; }

for proj in "${projects[@]}"; do
  name=$(basename "$proj" .csproj)
  echo "eng/test.sh: testing $name"
  status=0
  # A hung test must not eat the CI budget: the blame collector aborts a run that makes no progress.
  dotnet test "$proj" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$RESULTS" \
    --blame-hang-timeout 10m --blame-hang-dump-type none || status=$?
  if [ "$status" != 0 ]; then
    failed_projects+=("$name (dotnet test exit $status)")
  fi
  if [ ! -s "$RESULTS/$name.trx" ]; then
    failed_projects+=("$name (no TRX file)")
  fi
done

# ---------------------------------------------------------------- total the TRX counters
counter() { # counter FILE NAME -> the integer value of attribute NAME on <Counters>, 0 when absent
  local v
  v=$(tr '\n' ' ' <"$1" | grep -o '<Counters [^>]*>' | head -1 | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]\+' || true)
  echo "${v:-0}"
}

passed=0 failed=0 skipped=0
for trx in "$RESULTS"/*.trx; do
  t=$(counter "$trx" total)
  p=$(( $(counter "$trx" passed) + $(counter "$trx" passedButRunAborted) ))
  f=$(( $(counter "$trx" failed) + $(counter "$trx" error) + $(counter "$trx" timeout) \
        + $(counter "$trx" aborted) + $(counter "$trx" disconnected) ))
  s=$(( $(counter "$trx" notExecuted) + $(counter "$trx" notRunnable) + $(counter "$trx" inconclusive) \
        + $(counter "$trx" pending) + $(counter "$trx" inProgress) ))
  # Anything the total holds beyond the known outcomes did not pass: count it as skipped rather than lose it.
  rest=$(( t - p - f - s ))
  [ "$rest" -le 0 ] || s=$(( s + rest ))
  echo "eng/test.sh: $(basename "$trx" .trx): total $t, passed $p, failed $f, skipped $s"
  passed=$(( passed + p )) failed=$(( failed + f )) skipped=$(( skipped + s ))
done

exit_code=0
if [ ${#failed_projects[@]} -gt 0 ]; then
  printf 'eng/test.sh: FAILED: %s\n' "${failed_projects[@]}"
  exit_code=1
fi
[ "$failed" = 0 ] || exit_code=1

echo "$passed passed, $failed failed, $skipped skipped"
exit "$exit_code"
