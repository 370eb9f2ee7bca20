#!/bin/sh
# "ceph" for the nova-computes of the lab's libvirt hosts on shared
# storage (first on their PATH). Ceph 16's CLI now and then sends its
# first mon command before it has the monmap (fsid 0), and the mon
# refuses it with EPERM ("problem getting command descriptions from
# mon"). Nova runs "ceph mon dump" at each boot and live migration and
# does not retry; this does, for that error only.
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
attempt=0
while :; do
    attempt=$((attempt + 1))
    out=$("${OSIC_LAB_REAL_CEPH:-/usr/bin/ceph}" "$@" 2>"$err")
    rc=$?
    if [ "$rc" -eq 0 ] || [ "$attempt" -ge 5 ] ||
        ! grep -q "problem getting command descriptions" "$err"; then
        break
    fi
    sleep 1
done
[ -n "$out" ] && printf '%s\n' "$out"
cat "$err" >&2
exit "$rc"
