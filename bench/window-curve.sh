#!/bin/bash
# The window curve (docs/server.md, "Flow-control windows"): server CPU ms and wall time per
# 60 MB h2c echo with curl, raw node:http2 `stream.pipe(stream)` against `rxgi serve
# apps/echo.ts` with INITIAL_WINDOW and BODY_WINDOW patched to 16, 32, 64 and 128 KiB in copies
# of dist/. Server on cpu 0, curl on cpu 1; the kinds alternate within each round.
# Usage: npm run build && ROUNDS=8 bench/window-curve.sh   (needs curl with HTTP/2 and taskset)
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
head -c 60000000 /dev/urandom > "$work/body.bin"
KINDS="raw 16 32 64 128"
for w in 16 32 64 128; do
  mkdir "$work/w$w"
  cp -r "$root/dist" "$root/apps" "$root/package.json" "$work/w$w/"
  ln -s "$root/node_modules" "$work/w$w/node_modules"
  sed -i "s/export const BODY_WINDOW = 65_536;/export const BODY_WINDOW = $((w * 1024));/" "$work/w$w/dist/core/body.js"
  sed -i "s/export const INITIAL_WINDOW = 65_536;/export const INITIAL_WINDOW = $((w * 1024));/" "$work/w$w/dist/core/events.js"
done
declare -A PORT PID
for k in $KINDS; do
  PORT[$k]=$((20000 + RANDOM % 20000))
  if [ "$k" = raw ]; then
    taskset -c 0 node "$root/bench/servers/raw-h2-pipe.mjs" "${PORT[$k]}" &
    PID[$k]=$!
  else
    (cd "$work/w$k" && RXGI_LOG=warn exec taskset -c 0 node dist/protocols/cli/main.js serve apps/echo.ts --port "${PORT[$k]}" --no-access-log) &
    PID[$k]=$!
  fi
done
for k in $KINDS; do
  for _ in $(seq 100); do curl -s --http2-prior-knowledge "http://127.0.0.1:${PORT[$k]}/" -o /dev/null -d x && break; sleep 0.2; done
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
for r in $(seq "${ROUNDS:-5}"); do
  for k in $KINDS; do
    # `rxgi serve` supervises its server in a child process: measure that one.
    p=${PID[$k]}
    [ "$k" != raw ] && p=$(pgrep -P "${PID[$k]}" | head -1)
    c0=$(cpu "$p")
    t=$(taskset -c 1 curl -s --http2-prior-knowledge --data-binary @"$work/body.bin" "http://127.0.0.1:${PORT[$k]}/" -o "$work/out.bin" -w "%{time_total}")
    c1=$(cpu "$p")
    cmp -s "$work/out.bin" "$work/body.bin" && ok=ok || ok=BAD
    echo "$r $k wall=$t cpu_ms=$(((c1 - c0) * 10)) $ok"
  done
done
