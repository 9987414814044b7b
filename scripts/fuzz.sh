#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets in fuzz/, each from its committed seeds
# (fuzz/seeds/TARGET) plus a working corpus that grows between runs (fuzz/corpus/TARGET, not
# committed), with its dictionary (fuzz/dict/TARGET.dict) if there is one.
#
#   scripts/fuzz.sh [--time SECONDS] [--runs N] [--smoke] [TARGET...]
#
#   --time SECONDS  fuzz each target this long (default 60)
#   --runs N        stop a target after N executions (whichever of --time and --runs comes first)
#   --bin-dir DIR   run the target binaries in DIR as they are (no build): a long run keeps going
#                   while the sources change
#   --smoke         the CI check: build every target, run each over its seeds, then fuzz it for a
#                   few seconds (FUZZ_SMOKE_SECONDS, default 3) with a throw-away corpus
#
# Installs cargo-fuzz if it is missing. Builds without a sanitizer (the code under test forbids
# unsafe; libFuzzer's coverage and Rust's debug assertions and overflow checks stay on). A crash
# leaves its input in fuzz/artifacts/TARGET/ and the script exits non-zero after the other
# targets ran; a summary line per target gives executions, coverage (edges), features and corpus.
# Long runs: `nice -n 10 scripts/fuzz.sh --runs 10000000 --time 3600 TARGET`.
set -euo pipefail
cd "$(dirname "$0")/.."

time_per_target=60
runs=0
smoke=0
bin_dir=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_per_target=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --smoke) smoke=1; time_per_target=${FUZZ_SMOKE_SECONDS:-3}; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "the fuzz targets build on the nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
fi
toolchain=+nightly
fuzz=(cargo "$toolchain" fuzz)
if [ "$smoke" = 1 ]; then
  cargo "$toolchain" fmt --manifest-path fuzz/Cargo.toml -- --check
fi
if [ -z "$bin_dir" ]; then
  "${fuzz[@]}" build -s none
  bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release
fi
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <("${fuzz[@]}" list)
fi

scratch=""
if [ "$smoke" = 1 ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
fi
# A smoke run keeps its logs apart, so it never overwrites those of a long run going on.
logs=${scratch:-fuzz/target}/logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
  seeds=fuzz/seeds/$target
  if [ -n "$scratch" ]; then corpus=$scratch/$target; else corpus=fuzz/corpus/$target; fi
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  args=(-max_total_time="$time_per_target" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ "$runs" -gt 0 ] && args+=(-runs="$runs")
  [ -f "fuzz/dict/$target.dict" ] && args+=(-dict="fuzz/dict/$target.dict")
  log=$logs/$target.log
  echo "== $target: ${time_per_target}s$([ "$runs" -gt 0 ] && echo ", at most $runs runs")"
  start=$(date +%s)
  if "$bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" "${args[@]}" "$corpus" "$seeds" \
    >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$target")
    tail -40 "$log" >&2
  fi
  elapsed=$(( $(date +%s) - start ))
  # -a: a log may hold binary bytes (libFuzzer prints inputs).
  execs=$(grep -a -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  last=$(grep -a -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | awk '{print $2}' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | awk '{print $2}' || true)
  corp=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' <<<"$last" | awk '{print $2}' || true)
  line="$target: $status, ${execs:-?} executions in ${elapsed}s, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}"
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
