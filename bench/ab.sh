#!/bin/bash
# A/B of two builds of rxgi on one HTTP/1.1 hello world: which costs less server CPU per request.
# `npm run bench` measures rxgi against raw node, and on a shared machine its baseline can move
# by 2x between runs, more than a change of a few percent; this compares two revisions directly,
# in adjacent runs of the same phase of the machine.
#
# Usage: bench/ab.sh REV_A REV_B   (git revisions; a worktree of each is built under a temp dir)
# Environment: ROUNDS (default 10), SECONDS_PER_RUN (3), CONNECTIONS (50), AB_CLOSE (1: a
# connection per request, `Connection: close`; 0: keep-alive).
# Each round runs wrk against A and B, the order alternating, the servers on CPU 0 and wrk on
# CPU 1; a server's CPU is its utime + stime from /proc/PID/stat. Prints per round the µs per
# request of each and A/B (above 1: B costs less), then the median of A/B.
set -eu
[ $# -eq 2 ] || { sed -n '7p' "$0" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
declare -A PID PORT
cleanup() {
  for k in a b; do [ -n "${PID[$k]:-}" ] && kill "${PID[$k]}" 2>/dev/null || true; done
  for k in a b; do git -C "$root" worktree remove --force "$work/$k" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "ab.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
header=()
[ "${AB_CLOSE:-1}" = 1 ] && header=(-H 'Connection: close')
cat > "$work/hello.mjs" <<'EOF'
const { handle, serve, text } = await import(`${process.cwd()}/dist/index.js`);
const server = await serve(handle(() => text('Hello, world!\n')), {
  host: '127.0.0.1',
  port: Number(process.env.PORT),
});
console.log('LISTENING', server.port);
EOF
i=0
for k in a b; do
  rev=$([ $k = a ] && echo "$1" || echo "$2")
  git -C "$root" worktree add --detach -q "$work/$k" "$rev"
  ln -s "$root/node_modules" "$work/$k/node_modules"
  (cd "$work/$k" && npx tsc -p tsconfig.build.json)
  # Below the ephemeral port range, which wrk's closed connections fill.
  PORT[$k]=$((20000 + RANDOM % 5000 + i * 5000))
  i=$((i + 1))
  (cd "$work/$k" && PORT=${PORT[$k]} exec taskset -c 0 node "$work/hello.mjs" >"$work/$k.log" 2>&1) &
  PID[$k]=$!
done
for k in a b; do
  for _ in $(seq 50); do grep -q LISTENING "$work/$k.log" && break; sleep 0.1; done
  grep -q LISTENING "$work/$k.log" || { cat "$work/$k.log" >&2; exit 1; }
  taskset -c 1 wrk -t1 -c"${CONNECTIONS:-50}" -d2s "${header[@]}" "http://127.0.0.1:${PORT[$k]}/" >/dev/null
done
echo "A = $1, B = $2; µs of server CPU per request"
ratios=()
for r in $(seq "${ROUNDS:-10}"); do
  order="a b"
  [ $((r % 2)) -eq 0 ] && order="b a"
  declare -A us
  for k in $order; do
    before=$(awk '{print $14 + $15}' "/proc/${PID[$k]}/stat")
    n=$(taskset -c 1 wrk -t1 -c"${CONNECTIONS:-50}" -d"${SECONDS_PER_RUN:-3}s" "${header[@]}" \
      "http://127.0.0.1:${PORT[$k]}/" | awk '/requests in/ {print $1}')
    after=$(awk '{print $14 + $15}' "/proc/${PID[$k]}/stat")
    us[$k]=$(echo "scale=1; ($after - $before) * 1000000 / $(getconf CLK_TCK) / $n" | bc)
  done
  ratio=$(echo "scale=3; ${us[a]} / ${us[b]}" | bc)
  ratios+=("$ratio")
  printf 'round %2d  A %6s  B %6s  A/B %s\n' "$r" "${us[a]}" "${us[b]}" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {
  m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "median A/B %.3f over %d rounds\n", m, NR
}'
