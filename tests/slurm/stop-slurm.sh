#!/usr/bin/env bash
# Stop the daemons that start-slurm.sh started: only the PIDs recorded in
# $OPSCORE_SLURM_STATE/pids, newest first, each after checking /proc/<pid>/comm.
# Jobs still in the queue are cancelled first. Configs, state and the accounting database are
# kept, so start-slurm.sh can start the cluster again quickly. Bounded: ~2 min at worst.
set -uo pipefail
STATE=${OPSCORE_SLURM_STATE:-/tmp/opscore-slurm}
PIDS="$STATE/pids"
export SLURM_CONF="${SLURM_CONF:-$STATE/etc/slurm.conf}"   # the test cluster's, never /etc/slurm
if [ ! -s "$PIDS" ]; then
  echo "[stop-slurm] nothing recorded in $PIDS: nothing to stop"
  if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$STATE/etc/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
  fi
  exit 0
fi

# cancel leftover jobs first, so that no slurmstepd or job process outlives slurmd
if command -v squeue >/dev/null && timeout 10 scontrol ping >/dev/null 2>&1; then
  jobs=$(timeout 10 squeue -h -t PD,R,CG,S -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    echo "[stop-slurm] cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    timeout 20 scancel $jobs
    for _ in $(seq 40); do
      [ -z "$(timeout 10 squeue -h -t PD,R,CG,S -o %A 2>/dev/null)" ] && break; sleep 0.25
    done
  fi
fi

rc=0
for name in slurmd slurmctld slurmdbd mariadbd munged; do
  pid=$(awk -v n="$name" '$1==n {print $2}' "$PIDS")
  [ -n "$pid" ] || continue
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
    kill -TERM "$pid"
    for _ in $(seq 80); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
    if [ -d "/proc/$pid" ]; then
      echo "[stop-slurm] $name (pid $pid) still alive after 20 s: sending KILL"
      kill -KILL "$pid"; sleep 0.5
      [ -d "/proc/$pid" ] && { echo "[stop-slurm] $name (pid $pid) survived KILL" >&2; rc=1; }
    fi
    echo "[stop-slurm] stopped $name (pid $pid)"
  else
    echo "[stop-slurm] $name (pid $pid) was not running any more"
  fi
  sed -i "/^$name /d" "$PIDS"
done
# the configuration's one link into a system path goes with the cluster (start-slurm.sh)
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$STATE/etc/slurm.conf" ]; then
  rm -f /etc/slurm/slurm.conf && echo "[stop-slurm] removed the link /etc/slurm/slurm.conf"
fi
exit $rc
