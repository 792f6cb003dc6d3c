#!/bin/sh
# A cache-audit that takes its time: sleeps SLOW_SECONDS (default 5), then
# runs the real simulator with the same arguments. The book uses it to keep a
# simulation in flight long enough to press Ctrl-C (chapters 05 and 06):
#
#   cargo run --release --bin 05-subprocess -- 8080 --cache-audit book/tools/slow-cache-audit.sh
#
# CACHE_AUDIT overrides where the real simulator is (default: the release
# build of this checkout).
here=$(dirname "$0")
sleep "${SLOW_SECONDS:-5}"
exec "${CACHE_AUDIT:-$here/../../target/release/cache-audit}" "$@"
