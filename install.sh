#!/usr/bin/env bash
# Set up img2img in a virtual environment, with the PyTorch build that fits this machine.
#
#   ./install.sh              .venv (created if missing) + img2img (editable)
#   ./install.sh --dev        the same + the dev extras (pytest, ruff, playwright for the browser tests, ray)
#   ./install.sh --dry-run    print the commands instead of running them (the CPU index is still probed)
#   ./install.sh --cpu        CPU-only torch even if an NVIDIA GPU is present
#   ./install.sh --cuda       the default (CUDA on Linux x86_64) torch even without nvidia-smi
#   ./install.sh --quiet      pass -q to pip
#
# Without `nvidia-smi` on PATH (no NVIDIA GPU) on Linux, torch and torchvision come first from the
# CPU-only wheel index (about a quarter of the size of the default CUDA build); if that index cannot
# be reached (an offline machine, or pip set up with local wheels) it says so in one line and the
# default index is used. Then img2img is installed; torch is kept as installed.
#
# Environment: VENV (default: .venv next to this script), PYTHON (default: python3),
# IMG2IMG_CPU_INDEX (default: https://download.pytorch.org/whl/cpu),
# IMG2IMG_PROBE_TIMEOUT (seconds, default 15).
set -euo pipefail

root="$(cd "$(dirname "$0")" && pwd)"
venv="${VENV:-$root/.venv}"
python="${PYTHON:-python3}"
cpu_index="${IMG2IMG_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
probe_timeout="${IMG2IMG_PROBE_TIMEOUT:-15}"

extras="" dry_run=0 torch_build=auto quiet=()
for arg in "$@"; do
    case "$arg" in
        --dev) extras="[dev]" ;;
        --dry-run) dry_run=1 ;;
        --cpu) torch_build=cpu ;;
        --cuda) torch_build=default ;;
        -q|--quiet) quiet=(-q) ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { echo "install.sh: $*"; }
run() {  # print the command; run it unless --dry-run
    local line="+" arg
    for arg in "$@"; do
        case "$arg" in
            "" | *[!A-Za-z0-9_./:=@%+,-]*) line="$line '$arg'" ;;
            *) line="$line $arg" ;;
        esac
    done
    echo "$line"
    if [ "$dry_run" = 0 ]; then "$@"; fi
}

# torch / torchvision requirements exactly as pyproject.toml states them
torch_reqs=()
while IFS= read -r req; do torch_reqs+=("$req"); done < <(
    sed -n 's/^[[:space:]]*"\(torch[^"]*\)".*/\1/p' "$root/pyproject.toml" | grep -E '^torch(vision)?[^a-z_-]')
[ "${#torch_reqs[@]}" -gt 0 ] || torch_reqs=("torch" "torchvision")

if [ "$torch_build" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1; then
        torch_build=default
        say "nvidia-smi found: the default (CUDA) torch wheel"
    elif [ "$(uname -s)" != Linux ]; then
        torch_build=default  # macOS and others: the default wheel has no CUDA in it
        say "$(uname -s): the default torch wheel (CPU/MPS)"
    else
        torch_build=cpu
        say "no nvidia-smi (no NVIDIA GPU): CPU-only torch from $cpu_index"
    fi
fi

# Is the CPU index reachable? A short probe, so an offline machine falls back at once.
probe_cpu_index() {
    local limit=()
    if command -v timeout >/dev/null 2>&1; then limit=(timeout "$((probe_timeout + 5))"); fi
    ${limit[@]+"${limit[@]}"} "$python" - "${cpu_index%/}/torch/" "$probe_timeout" <<'EOF' 2>&1
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).close()
except Exception as error:
    print(getattr(error, "reason", None) or error)
    sys.exit(1)
EOF
}

if [ ! -x "$venv/bin/python" ]; then
    run "$python" -m venv "$venv"
else
    say "using the existing $venv"
fi
pip=("$venv/bin/python" -m pip)

if [ "$torch_build" = cpu ]; then
    if reason="$(probe_cpu_index)"; then
        if ! run "${pip[@]}" install ${quiet[@]+"${quiet[@]}"} --timeout 15 --retries 0 --index-url "$cpu_index" "${torch_reqs[@]}"; then
            say "installing from the CPU index failed; falling back to the default torch wheel"
        fi
    else
        say "CPU index $cpu_index unreachable (${reason//$'\n'/ }); falling back to the default torch wheel (on Linux x86_64 the CUDA build, several GB)"
    fi
fi

run "${pip[@]}" install ${quiet[@]+"${quiet[@]}"} -e "$root$extras"

if [ "$dry_run" = 0 ]; then
    say "done: $(du -sh "$venv" 2>/dev/null | cut -f1) in $venv"
    say "try: $venv/bin/img2img demo"
fi
