#!/usr/bin/env bash
# Make sure the test Redis (the URL given, by default redis://127.0.0.1:6379/0) answers; start
# a local redis-server if one is installed but not running.
set -euo pipefail
url=${1:-redis://127.0.0.1:6379/0}
address=${url#*://}
address=${address%%/*}
address=${address##*@}
host=${address%:*}
port=${address##*:}

ready() {
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = "PONG" ]
  else
    # No client tools: speak the protocol with bash's /dev/tcp.
    exec 3<>"/dev/tcp/$host/$port" 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 answer <&3 || answer=""
    exec 3>&-
    [ "${answer%$'\r'}" = "+PONG" ]
  fi
}
ready && exit 0

if command -v redis-server >/dev/null && [ "$host" = 127.0.0.1 ]; then
  echo "Redis is not answering on $host:$port; starting redis-server (nothing kept on disk)..."
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 1 30); do ready && exit 0; sleep 0.2; done
fi

echo "make test needs Redis at $host:$port, and none is answering." >&2
echo "Install it (e.g. 'apt-get install redis-server') and start it ('redis-server --daemonize yes')," >&2
echo "or set TEST_REDIS_URL=redis://HOST:PORT/DB and retry." >&2
exit 1
