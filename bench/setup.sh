#!/usr/bin/env bash
# The bench's setup step (python -m bench runs it first): wrk from Debian when missing,
# and PostGraphile 4 with its connection-filter plugin from npm when Node is present.
# Idempotent; prints what it did. A failure here is not fatal: the bench then falls back
# to its Python load generator, or marks the PostGraphile baseline unavailable.
set -uo pipefail

NODE_PREFIX="${BENCH_NODE_PREFIX:-$HOME/.cache/orderly-bench/postgraphile}"

if ! command -v wrk >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bench setup: installing wrk with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1 \
      || echo "bench setup: could not install wrk; the Python load generator will be used"
  else
    echo "bench setup: wrk missing and apt-get unavailable (or not root); the Python load generator will be used"
  fi
fi

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if [ ! -x "$NODE_PREFIX/node_modules/.bin/postgraphile" ] \
     || [ ! -d "$NODE_PREFIX/node_modules/postgraphile-plugin-connection-filter" ]; then
    echo "bench setup: installing postgraphile@4 into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    timeout 300 npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error \
      postgraphile@4 postgraphile-plugin-connection-filter@2 >/dev/null 2>&1 \
      || echo "bench setup: could not install postgraphile; its baseline will be unavailable"
  fi
else
  echo "bench setup: node/npm missing; the PostGraphile baseline will be unavailable"
fi
exit 0
