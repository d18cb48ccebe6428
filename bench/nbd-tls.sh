#!/usr/bin/env bash
# TLS rows of the NBD suite: jaio-storage-daemon, nbdkit --tls=require and qemu-nbd --tls-creds,
# each serving a 1 GiB random image in /dev/shm over a Unix socket with the same x509 server
# certificate (made here with certtool; no client certificate), interleaved per test and round
# through the shared fio suite (fio's libnbd engine, nbds+unix URIs). Medians and ratios at the end.
#
#   bench/nbd-tls.sh            (env: JAR, ROUNDS [2], RUNTIME [5], WARMUP [5], TESTS, JAVA)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${SHARED_BENCH:-$here/../shared/bench/nbd}
java=${JAVA:-java}
jar=${JAR:-$here/jaio-daemon/target/jaio-storage-daemon.jar}
for t in nbdkit qemu-nbd fio nbdinfo certtool; do command -v $t >/dev/null || { echo "nbd-tls: $t missing" >&2; exit 1; }; done
work=$(mktemp -d /dev/shm/jaio-nbd-tls.XXXXXX)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && "$B/stop-server.sh" "${pids[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
pki=$work/pki; mkdir -p "$pki"
( cd "$pki"
  certtool --generate-privkey > ca-key.pem 2>/dev/null
  printf 'cn = "bench CA"\nca\ncert_signing_key\nexpiration_days = 2\n' > ca.info
  certtool --generate-self-signed --load-privkey ca-key.pem --template ca.info --outfile ca-cert.pem 2>/dev/null
  certtool --generate-privkey > server-key.pem 2>/dev/null
  printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' > server.info
  certtool --generate-certificate --load-privkey server-key.pem --load-ca-certificate ca-cert.pem \
      --load-ca-privkey ca-key.pem --template server.info --outfile server-cert.pem 2>/dev/null )
head -c 1G /dev/urandom > "$work/j.img"; cp "$work/j.img" "$work/k.img"; cp "$work/j.img" "$work/q.img"
serve() { # label -- cmd...   (READY_PROBE=socket: a TLS-only server refuses the plaintext probe)
  local l=$1; shift 2
  eval "$(READY_PROBE=socket EXPORT=disk "$B/serve.sh" "$work/$l.sock" -- "$@")"
  pids+=("$SERVER_PID"); eval "${l}PID=$SERVER_PID"
}
serve J -- "$java" -jar "$jar" --iothread id=io0 \
  --object "tls-creds-x509,id=tls0,dir=$pki,endpoint=server,verify-peer=off" \
  --export "name=disk,file=$work/j.img,cache=none,aio=io_uring,iothread=io0" \
  --nbd-server "unix={SOCKET},tls-creds=tls0"
serve K -- nbdkit -P {PIDFILE} --log=stderr -U {SOCKET} --tls=require "--tls-certificates=$pki" -e disk file "$work/k.img"
serve Q -- qemu-nbd -t -k {SOCKET} -x disk -f raw --shared=8 --cache=none --aio=io_uring \
  --object "tls-creds-x509,id=tls0,dir=$pki,endpoint=server,verify-peer=off" --tls-creds tls0 "$work/q.img"
# fio's libnbd engine refuses URIs that read local files (tls-certificates): the rows run with
# tls-verify-peer=false; nbdinfo first checks each server's certificate against the CA.
uri() { echo "nbds+unix:///disk?socket=$work/$1.sock&tls-verify-peer=false"; }
for l in J K Q; do nbdinfo --size "nbds+unix:///disk?socket=$work/$l.sock&tls-certificates=$pki" >/dev/null \
  || { echo "nbd-tls: TLS probe failed against $l" >&2; exit 1; }; done
# Untimed warm-up against each server first (the JIT and the page cache), as nbd-ab.sh does.
for l in J K Q; do
  TESTS=randread-4k-qd32-j1 RUNTIME=${WARMUP:-5} RAMP=0 OUTDIR="$work/warm-$l" "$B/fio-nbd.sh" "$(uri $l)" >/dev/null \
    || { echo "nbd-tls: warm-up failed against $l" >&2; exit 1; }
done
tests=${TESTS:-randread-4k-qd32-j1 seqread-64k-qd8-j1}
log=$work/tls.log; hdr=0
for r in $(seq "${ROUNDS:-2}"); do for t in $tests; do for l in J K Q; do
  p=${l}PID
  TESTS=$t RUNTIME=${RUNTIME:-5} SERVER_PID=${!p} NO_HEADER=$hdr OUTDIR="$work/$l-r$r" "$B/fio-nbd.sh" "$(uri $l)" \
    | grep -v '^results' | sed "s/^/$l /" | tee -a "$log"
  hdr=1
done; done; done
echo
echo "medians over ${ROUNDS:-2} round(s), TLS 1.3; J = jaio ($jar), K = nbdkit, Q = qemu-nbd"
awk '$1 ~ /^[JKQ]$/ && $3 ~ /^[0-9]/ { k=$1" "$2; v[k]=v[k]" "$3; tests[$2]=1 }
  function med(s,   a, n, i, j, t) { n=split(s, a, " "); for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (a[j]+0<a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
    return n%2 ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2 }
  END { printf "%-22s %9s %9s %9s %7s %7s\n", "test", "jaio", "nbdkit", "qemu-nbd", "J/K", "J/Q";
    for (t in tests) { j=med(v["J "t]); k=med(v["K "t]); q=med(v["Q "t]);
      printf "%-22s %9d %9d %9d %7.2f %7.2f\n", t, j, k, q, j/k, j/q } }' "$log"
