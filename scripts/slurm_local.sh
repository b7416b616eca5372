#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying and testing `hydra/launcher=slurm`.
#
#   scripts/slurm_local.sh start  [STATE_DIR]   install (apt, as root) if missing, configure, start
#   scripts/slurm_local.sh status [STATE_DIR]   the daemons this script started, sinfo and squeue
#   scripts/slurm_local.sh stop   [STATE_DIR]   cancel the cluster's jobs, stop the daemons it started
#   scripts/slurm_local.sh env    [STATE_DIR]   the variables a shell needs to use the cluster
#
# STATE_DIR (default: $T2I_SLURM_DIR, else /tmp/t2i-slurm) holds everything: slurm.conf, the munge
# key and socket, the controller state, the logs and the daemons' pid files. Nothing is written to
# /etc: the daemons are started with that slurm.conf, and clients find it through SLURM_CONF
# (`eval "$(scripts/slurm_local.sh env)"` sets it in your shell; `start` prints the same line).
#
# Installing uses Debian's packages (slurmctld slurmd slurm-client munge; Debian 12 ships Slurm
# 22.05) and needs root; the daemons run as root too (SlurmUser=root). Exit status 3 from `start`
# means the packages are missing and could not be installed (tests skip on it); any other failure
# of `start` is an error, with the daemons' log tails printed.
#
# Settings (environment): T2I_SLURM_CPUS (default: the online CPUs, at least 2), T2I_SLURM_MEM_MB (default: total memory
# minus 1024 MB or 10%, whichever is larger), T2I_SLURM_CTLD_PORT / T2I_SLURM_SLURMD_PORT (defaults
# 6817 / 6818), T2I_SLURM_WAIT_S (seconds to wait for an idle node, default 90).
set -euo pipefail

CMD="${1:-status}"
STATE="${2:-${T2I_SLURM_DIR:-/tmp/t2i-slurm}}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
CONF="$STATE/slurm.conf"
MUNGE_DIR="$STATE/munge"
SOCKET="$MUNGE_DIR/munge.socket"
PACKAGES=(slurmctld slurmd slurm-client munge)
BINARIES=(slurmctld slurmd sinfo sbatch srun squeue scancel munged)

log() { echo "[slurm_local] $*" >&2; }

missing_binaries() {
    local b out=()
    for b in "${BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || [[ -x "/usr/sbin/$b" ]] || out+=("$b")
    done
    echo "${out[*]:-}"
}

install_packages() {
    local missing
    missing="$(missing_binaries)"
    [[ -z "$missing" ]] && return 0
    log "missing: $missing; installing ${PACKAGES[*]} with apt-get"
    if [[ "$(id -u)" != 0 ]]; then
        log "cannot install: apt-get needs root (run as root, or install ${PACKAGES[*]} yourself)"
        return 3
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "cannot install: no apt-get on this machine (install ${PACKAGES[*]} yourself)"
        return 3
    fi
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
    if ! "${apt[@]}" "${PACKAGES[@]}" >"$STATE/apt.log" 2>&1; then
        log "apt-get install failed; running apt-get update and trying again"
        apt-get update -q >>"$STATE/apt.log" 2>&1 || true
        if ! "${apt[@]}" "${PACKAGES[@]}" >>"$STATE/apt.log" 2>&1; then
            tail -n 20 "$STATE/apt.log" >&2
            log "cannot install ${PACKAGES[*]} (log: $STATE/apt.log)"
            return 3
        fi
    fi
    missing="$(missing_binaries)"
    if [[ -n "$missing" ]]; then
        log "installed, but still missing: $missing"
        return 3
    fi
}

memory_mb() {
    local total margin
    total="$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
    margin=$(( total / 10 > 1024 ? total / 10 : 1024 ))
    echo $(( total - margin > 256 ? total - margin : 256 ))
}

write_conf() {
    local host cpus mem
    host="$(hostname -s)"
    # online CPUs (not `nproc`, which follows OMP_NUM_THREADS), at least 2: the 2-task ddp check
    # needs two; on a 1-CPU machine the second is oversubscribed (SlurmdParameters=config_overrides)
    cpus="${T2I_SLURM_CPUS:-$(getconf _NPROCESSORS_ONLN)}"
    (( cpus >= 2 )) || cpus=2
    mem="${T2I_SLURM_MEM_MB:-$(memory_mb)}"
    mkdir -p "$STATE/ctld" "$STATE/slurmd" "$STATE/log" "$MUNGE_DIR"
    cat >"$CONF" <<EOF
# Written by scripts/slurm_local.sh for this machine ($host): one node, one partition, no accounting.
ClusterName=t2i-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${T2I_SLURM_CTLD_PORT:-6817}
SlurmdPort=${T2I_SLURM_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
InactiveLimit=0
KillWait=10
MinJobAge=300
SlurmctldTimeout=60
SlurmdTimeout=60
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $CONF (node $host, CPUs=$cpus, RealMemory=${mem} MB)"
}

# pid of a daemon this script started, if it still runs (checked against its name: pids get reused)
running_pid() {
    local name="$1" file="$STATE/$1.pid" pid
    [[ -s "$file" ]] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    grep -q "$name" "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

wait_for_pidfile() {
    local name="$1" i
    for i in $(seq 1 100); do
        running_pid "$name" >/dev/null && return 0
        sleep 0.2
    done
    return 1
}

dump_logs() {
    local f
    for f in "$STATE"/log/*.log; do
        [[ -f "$f" ]] || continue
        echo "--- $f (last 20 lines)" >&2
        tail -n 20 "$f" >&2
    done
}

start_munge() {
    if running_pid munged >/dev/null; then
        log "munged already running (pid $(running_pid munged))"
        return
    fi
    if [[ ! -s "$MUNGE_DIR/munge.key" ]]; then
        (umask 077 && dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none)
    fi
    chmod 700 "$MUNGE_DIR"
    chmod 600 "$MUNGE_DIR/munge.key"
    munged --force \
        --key-file="$MUNGE_DIR/munge.key" \
        --socket="$SOCKET" \
        --pid-file="$STATE/munged.pid" \
        --log-file="$STATE/log/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed"
    wait_for_pidfile munged || { dump_logs; log "munged did not start"; exit 1; }
}

start_daemon() {
    local name="$1"
    if running_pid "$name" >/dev/null; then
        log "$name already running (pid $(running_pid "$name"))"
        return
    fi
    "$name" -f "$CONF"
    wait_for_pidfile "$name" || { dump_logs; log "$name did not start"; exit 1; }
}

wait_idle() {
    local host state i limit="${T2I_SLURM_WAIT_S:-90}"
    host="$(hostname -s)"
    for i in $(seq 1 "$limit"); do
        state="$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)"
        if [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]]; then
            log "node $host is $state"
            return 0
        fi
        sleep 1
    done
    dump_logs
    sinfo -N -l >&2 || true
    log "node $host not idle after ${limit}s (state: ${state:-none})"
    exit 1
}

print_env() {
    echo "export SLURM_CONF=$CONF"
}

case "$CMD" in
    start)
        install_packages || exit $?
        export SLURM_CONF="$CONF"
        write_conf
        start_munge
        start_daemon slurmctld
        start_daemon slurmd
        wait_idle
        log "cluster up; clients need: $(print_env)"
        print_env
        ;;
    stop)
        export SLURM_CONF="$CONF"
        if running_pid slurmctld >/dev/null; then
            jobs="$(squeue -h -o %i 2>/dev/null || true)"
            if [[ -n "$jobs" ]]; then
                log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
                # shellcheck disable=SC2086
                scancel $jobs 2>/dev/null || true
                for _ in $(seq 1 30); do
                    [[ -z "$(squeue -h -o %i 2>/dev/null || true)" ]] && break
                    sleep 1
                done
            fi
        fi
        for name in slurmd slurmctld munged; do
            if pid="$(running_pid "$name")"; then
                kill "$pid"
                for _ in $(seq 1 50); do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.2
                done
                if kill -0 "$pid" 2>/dev/null; then
                    log "$name (pid $pid) still running; sending SIGKILL"
                    kill -9 "$pid" 2>/dev/null || true
                fi
                log "stopped $name (pid $pid)"
            fi
            rm -f "$STATE/$name.pid"
        done
        ;;
    status)
        export SLURM_CONF="$CONF"
        up=0
        for name in munged slurmctld slurmd; do
            if pid="$(running_pid "$name")"; then
                echo "$name: running (pid $pid)"
                up=$((up + 1))
            else
                echo "$name: not running"
            fi
        done
        if [[ "$up" == 3 ]]; then
            sinfo -N -l || true
            squeue || true
        fi
        [[ "$up" == 3 ]]
        ;;
    env)
        print_env
        ;;
    *)
        echo "usage: $0 start|stop|status|env [STATE_DIR]" >&2
        exit 2
        ;;
esac
