#!/usr/bin/env bash
# The real software the integration suites drive, all from Debian's packages (run as root; about 1 min):
# the registry, a client, containerd, busybox and the tools of the simulated node, strace and faketime for
# the fault and expiry trials, and a Ceph RADOS Gateway for the S3 suite.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  docker-registry skopeo containerd busybox socat curl openssl iproute2 util-linux strace faketime \
  radosgw ceph-mon ceph-osd >/dev/null
