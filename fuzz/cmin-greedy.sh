#!/usr/bin/env bash
# Shrink corpus/<target>/ to at most LIMIT files, keeping the inputs that add
# the most new coverage edges first (greedy set cover over libFuzzer's merge
# control file, edges only: -use_counters=0). Prints the edges kept.
#   fuzz/cmin-greedy.sh TARGET [LIMIT=300]
set -euo pipefail
cd "$(dirname "$0")"
t=$1
limit=${2:-300}
export RUSTC_BOOTSTRAP=1
cargo fuzz build "$t" >/dev/null
bin=$(ls -d target/*/release/"$t" | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/out"
"$bin" -merge=1 -use_counters=0 -max_len=1048576 -merge_control_file="$work/ctl" "$work/out" "corpus/$t" >"$work/log" 2>&1
python3 - "$work/ctl" "corpus/$t" "$limit" <<'PY'
import os, sys
ctl, corpus, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(ctl).read().split("\n")
n = int(lines[0])
files = lines[2:2 + n]
cov = {}
for l in lines[2 + n:]:
    p = l.split()
    if p and p[0] == "COV":
        cov[int(p[1])] = set(p[2:])
allcov = set().union(*cov.values()) if cov else set()
covered, keep = set(), []
left = dict(cov)
while left and len(keep) < limit:
    i = max(left, key=lambda k: (len(left[k] - covered), -os.path.getsize(files[k])))
    gain = left.pop(i) - covered
    if not gain:
        break
    covered |= gain
    keep.append(i)
keep_names = {os.path.basename(files[i]) for i in keep}
removed = 0
for f in os.listdir(corpus):
    if f not in keep_names:
        os.remove(os.path.join(corpus, f))
        removed += 1
size = sum(os.path.getsize(os.path.join(corpus, f)) for f in os.listdir(corpus))
print(f"{corpus}: kept {len(keep)} files ({size} bytes), removed {removed}; "
      f"edges {len(covered)} of {len(allcov)}")
PY
