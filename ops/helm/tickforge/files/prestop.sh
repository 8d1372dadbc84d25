# The pod's preStop hook (bash, run by the kubelet before it sends SIGTERM):
# starts the node's drain through POST /admin/drain on the admin listener
# (port $1) and returns when the drain delay is over. From then on the node
# stops taking joins and answers 503 on /readyz; when the hook returns, the
# kubelet's SIGTERM (to the node: a second signal during its drain, "shut
# down now") comes exactly when the delay would have ended it anyway, and the
# rooms move or close within --shutdown-deadline-ms. If the drain cannot be
# started here, the hook fails at once and the SIGTERM starts the same drain.
# The image has no HTTP client: bash speaks HTTP/1.1 through /dev/tcp.
set -u
port="$1"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'POST /admin/drain HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$port" >&3
# The whole answer (the node closes the connection after it), 5 s at most.
IFS= read -r -d '' -t 5 response <&3
exec 3<&-
status="${response%%$'\r'*}"
if [[ ! "$status" =~ ^HTTP/1\.[01]\ 2 ]]; then
  echo "tickforge preStop: drain not started: ${status:-no answer}" >&2
  exit 1
fi
# {"began":…,"delay_ms":D,"elapsed_ms":E}: the rooms close D − E ms from now.
if [[ "$response" =~ \"delay_ms\":([0-9]+) ]]; then delay="${BASH_REMATCH[1]}"; else delay=0; fi
if [[ "$response" =~ \"elapsed_ms\":([0-9]+) ]]; then elapsed="${BASH_REMATCH[1]}"; else elapsed=0; fi
left=$(( delay > elapsed ? delay - elapsed : 0 ))
echo "tickforge preStop: draining, rooms move in ${left} ms"
sleep "$(( left / 1000 )).$(printf '%03d' $(( left % 1000 )))"
