#!/usr/bin/env bash
# Compares a benchmark at BASE with the working tree, in one sitting.
#
#   make bench-compare BASE=<commit> [BENCH=batching] [RUNS=3] [METRIC='end to end']
#
# Builds BASE (in a git worktree under target/bench-compare/, with a target
# directory of its own) and the working tree, then runs the benchmark RUNS
# times each, interleaved (base, tree; then tree, base; ...), so that the
# machine's drift over the sitting falls on both alike. Before each run it
# measures the machine's speed (secp256k1 recoveries per second per core,
# benches/machine_speed.rs). It prints every run, then each side's median
# and spread, and the tree's median as a ratio of the base's.
#
# METRIC names the row of the benchmark's table whose number is compared
# (the last number on the first line that contains it). Extra environment
# (CAIRN_BENCH_SECS=30 ...) passes through to both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
base=${BASE:-}
[[ -n $base ]] || { echo "set BASE=<commit> to compare against" >&2; exit 2; }
bench=${BENCH:-batching}
runs=${RUNS:-3}
metric=${METRIC:-end to end}
work=$root/target/bench-compare
mkdir -p "$work"
log=$work/$(date +%Y%m%d-%H%M%S)-$bench.log

base_sha=$(git rev-parse --verify "$base^{commit}")
tree=$work/base-$base_sha
if [[ ! -d $tree ]]; then
  git worktree add --detach "$tree" "$base_sha" >/dev/null
fi
# The base checkout uses this checkout's tools (Anvil, Kubo, solc), as the tree does.
for shared in tools/node_modules tools/bin web/node_modules; do
  if [[ -e $root/$shared && ! -e $tree/$shared ]]; then
    mkdir -p "$(dirname "$tree/$shared")"
    ln -s "$root/$shared" "$tree/$shared"
  fi
done

# Builds the benchmark in $1 with target directory $2; prints its executable.
build() {
  (cd "$1" && CARGO_TARGET_DIR=$2 cargo bench --locked --bench "$bench" --no-run --message-format=json 2>/dev/null) |
    node -e '
      let exe = "";
      for (const line of require("fs").readFileSync(0, "utf8").split("\n")) {
        if (!line.startsWith("{")) continue;
        const m = JSON.parse(line);
        if (m.reason === "compiler-artifact" && m.target.kind.includes("bench") && m.executable) exe = m.executable;
      }
      if (!exe) process.exit(1);
      console.log(exe);'
}
echo "==> building $bench at $base ($base_sha) and in the working tree (logs: $log)"
# A target directory of its own: cargo names a workspace's artifacts by
# their path inside the workspace, so in a shared one the two builds would
# take each other's binaries for fresh.
base_exe=$(build "$tree" "$work/target-base") || { echo "building $bench at $base failed" >&2; exit 1; }
tree_exe=$(build "$root" "$root/target") || { echo "building $bench in the working tree failed" >&2; exit 1; }
speed_exe=$(bench=machine_speed; build "$root" "$root/target")

# Runs side $1 (base|tree) once; records "side figure speed".
run() {
  local side=$1 dir exe out figure speed
  if [[ $side == base ]]; then dir=$tree exe=$base_exe; else dir=$root exe=$tree_exe; fi
  speed=$("$speed_exe" | sed -n 's/^machine speed: \([0-9]*\).*/\1/p')
  out=$(cd "$dir" && "$exe" --bench 2>&1) || { echo "$out" >>"$log"; echo "$side run failed (see $log)" >&2; exit 1; }
  { echo "### $side run $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"; echo "$out"; } >>"$log"
  figure=$( (grep -m1 -F "$metric" <<<"$out" || true) | grep -oE '[0-9][0-9,]*(\.[0-9]+)?' | tail -1 | tr -d , || true)
  [[ -n $figure ]] || { echo "no line with \"$metric\" in the $side run (see $log)" >&2; exit 1; }
  echo "$side $figure $speed" >>"$work/figures"
  printf '%-5s %12s   machine %s recoveries/s/core   load %s\n' "$side" "$figure" "$speed" "$(cut -d' ' -f1 /proc/loadavg)"
}

: >"$work/figures"
{ echo "base: $base_exe"; echo "tree: $tree_exe"; } >>"$log"
[[ $base_exe != "$tree_exe" ]] || { echo "the two builds gave one executable" >&2; exit 1; }
echo "==> $runs runs each, interleaved; \"$metric\""
for ((i = 1; i <= runs; i++)); do
  if ((i % 2)); then run base; run tree; else run tree; run base; fi
done

node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
  const side = (s) => rows.filter((r) => r[0] === s).map((r) => Number(r[1])).sort((a, b) => a - b);
  const median = (v) => (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2);
  const spread = (v) => (100 * (v[v.length - 1] - v[0])) / median(v);
  const speeds = rows.map((r) => Number(r[2])).filter((x) => x > 0);
  const [b, t] = [side("base"), side("tree")];
  console.log(`base  median ${median(b)}  spread ${spread(b).toFixed(1)}%  (${b.join(", ")})`);
  console.log(`tree  median ${median(t)}  spread ${spread(t).toFixed(1)}%  (${t.join(", ")})`);
  console.log(`ratio tree/base ${(median(t) / median(b)).toFixed(3)}`);
  if (speeds.length) console.log(`machine ${Math.min(...speeds)} to ${Math.max(...speeds)} recoveries/s/core over the sitting`);
' "$work/figures"
