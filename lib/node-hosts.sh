#!/bin/sh
# Keeps exactly one "<registry Service IP> <hostname>" line in the node's /etc/hosts, so containerd on
# the node can reach the registry by the name its registries.yaml uses.
#
# Docker bind-mounts /etc/hosts into each node container: rename and `sed -i` fail there with "Device or
# resource busy", so the file is rewritten in place. Every other line (k3d's host.k3d.internal and
# hostAliases among them) is kept byte for byte, and nothing is written when nothing would change.
# The file does not stay as we leave it: Docker rebuilds it when the node container restarts, and k3d
# re-sorts and de-duplicates it on every `k3d cluster start`. So this runs in a loop, and a line lost to
# either comes back within one period.
set -u

hosts_file=${HOSTS_FILE:-/host/etc/hosts}
hostname=${REGISTRY_HOSTNAME:-container-registry.local}
dns_name=${SERVICE_DNS_NAME:-}
fallback_ip=${SERVICE_IP_FALLBACK:-}
interval=${INTERVAL_SECONDS:-30}

log() {
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) node-hosts: $*"
}

is_ipv4() {
  case "$1" in
    '' | *[!0-9.]* | *..* | .* | *.) return 1 ;;
  esac
  [ "$(echo "$1" | awk -F. 'NF == 4 && $1 < 256 && $2 < 256 && $3 < 256 && $4 < 256 { print "ok" }')" = ok ]
}

# The Service's ClusterIP, looked up by its cluster DNS name each time so a recreated Service is
# followed. Both busybox formats: "Address: 10.43.0.7" and "Address 1: 10.43.0.7 name"; the first IPv4 wins.
resolve_service_ip() {
  [ -n "$dns_name" ] || return 1
  found=$(nslookup "$dns_name" 2>/dev/null | awk '
    /^Name:/ { named = 1; next }
    named && /^Address/ {
      sub(/^Address( [0-9]+)?:[ \t]*/, "")
      split($0, field, /[ \t]+/)
      if (field[1] ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) { print field[1]; exit }
    }')
  is_ipv4 "$found" && echo "$found"
}

# The IP of our current line, if there is one.
our_current_ip() {
  awk -v host="$hostname" '$1 !~ /^#/ && NF == 2 && $2 == host { print $1; exit }' "$hosts_file"
}

# The hosts file with our line where the first line naming the hostname was (ours or another's, so
# ours comes first and wins the lookup), our old lines dropped, every other line kept; else appended.
desired_hosts() {
  awk -v line="$1" -v host="$hostname" '
    function names_host(  i) { for (i = 2; i <= NF; i++) if ($i == host) return 1; return 0 }
    $1 ~ /^#/ || !names_host() { print; next }
    !placed { print line; placed = 1 }
    NF != 2 { print }
    END { if (!placed) print line }
  ' "$hosts_file"
}

# Replaces the content of $2 with that of $1 without ever truncating it first (a plain `cat new > file` empties
# the file, then a full disk leaves it cut mid-line). The file must be written in place (a bind mount), so:
# grow it to the new size first (if the disk is full that fails, the padding is cut off again and nothing
# else changed), then overwrite it from offset 0 (dd conv=notrunc), then cut it to the new length.
write_in_place() {
  new_size=$(wc -c < "$1") && old_size=$(wc -c < "$2") || return 1
  # The size is checked as well as dd's status: a short write on a full disk is not always reported.
  if [ "$new_size" -gt "$old_size" ] && ! {
    dd if=/dev/zero of="$2" bs=1 seek="$old_size" count=$((new_size - old_size)) conv=notrunc 2> /dev/null &&
      [ "$(wc -c < "$2")" -eq "$new_size" ]
  }; then
    truncate -s "$old_size" "$2"
    log "cannot grow $2 from $old_size to $new_size bytes (disk full?): $2 left as it was"
    return 1
  fi
  if ! dd if="$1" of="$2" bs=4096 conv=notrunc 2> /dev/null; then
    log "cannot overwrite $2 in place: it may be damaged, check it"
    return 1
  fi
  truncate -s "$new_size" "$2"
}

update_hosts() {
  if ! ip=$(resolve_service_ip); then
    # Kubernetes' injected Service variable is fixed at pod start: good for a first entry, but stale
    # once the Service is recreated, so it never replaces the IP of a line already there.
    ip=$(our_current_ip)
    if is_ipv4 "$ip"; then
      log "cannot resolve ${dns_name:-the Service}: keeping $ip"
    elif is_ipv4 "$fallback_ip"; then
      ip=$fallback_ip
    else
      log "cannot resolve ${dns_name:-the Service} and no fallback IP: $hosts_file left as it is"
      return 1
    fi
  fi
  line="$ip $hostname"
  # The lock serialises copies of this script on one node (a rolling update), so none reads a
  # half-written file and the line is never duplicated. busybox images have flock; without it, go on.
  (
    if command -v flock > /dev/null; then flock -x 9 || exit 1; fi
    next_hosts=$(mktemp) || exit 1
    trap 'rm -f "$next_hosts"' EXIT
    desired_hosts "$line" > "$next_hosts" || exit 1
    if cmp -s "$next_hosts" "$hosts_file"; then
      exit 0
    fi
    write_in_place "$next_hosts" "$hosts_file" || exit 1
    log "wrote '$line' to $hosts_file"
  ) 9< "$hosts_file"
}

if [ "${RUN_ONCE:-0}" = 1 ]; then
  update_hosts
  exit $?
fi

trap 'exit 0' TERM INT
log "keeping '<Service IP> $hostname' in $hosts_file, every ${interval}s"
while :; do
  update_hosts || true
  sleep "$interval" &
  wait $!
done
