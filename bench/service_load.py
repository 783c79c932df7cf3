#!/usr/bin/env python3
"""Load generator for cuseg-service (standard library only).

For each concurrency level, C client threads each keep one HTTP/1.1
connection and POST the same image to /v1/segment back to back for
--duration seconds (after --warmup seconds whose requests are not counted).
Reports requests/s, latency percentiles, errors, and the mean batch size the
service formed (from /metrics, cuseg_batch_size_sum / _count over the
measured window), as a Markdown table.

  python3 bench/service_load.py --url http://127.0.0.1:8080 --image img.png \
      --concurrency 1,4,16 --duration 20
"""
import argparse
import http.client
import statistics
import sys
import threading
import time
import math
import struct
import urllib.parse
import zlib


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def get_metrics(host, port):
    c = http.client.HTTPConnection(host, port, timeout=60)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    return body


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    # Nearest rank: the smallest value with at least q of the samples at or below it.
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 1)) - 1))
    return sorted_values[k]


def run_level(host, port, path, body, content_type, clients, warmup, duration):
    start = time.monotonic()
    t_measure = start + warmup
    t_end = t_measure + duration
    lat = [[] for _ in range(clients)]
    errors = [0] * clients
    before = {}

    def client(i):
        conn = http.client.HTTPConnection(host, port, timeout=120)
        while True:
            t0 = time.monotonic()
            if t0 >= t_end:
                break
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": content_type})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=120)
            t1 = time.monotonic()
            if t0 >= t_measure and t1 <= t_end:
                if ok:
                    lat[i].append(t1 - t0)
                else:
                    errors[i] += 1
        conn.close()

    def snapshot():
        time.sleep(max(0.0, t_measure - time.monotonic()))
        before["m"] = get_metrics(host, port)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    snap = threading.Thread(target=snapshot)
    for t in threads:
        t.start()
    snap.start()
    for t in threads:
        t.join()
    snap.join()
    after = get_metrics(host, port)
    all_lat = sorted(x for l in lat for x in l)
    db = metric(after, "cuseg_batch_size_sum") - metric(before["m"], "cuseg_batch_size_sum")
    dn = metric(after, "cuseg_batch_size_count") - metric(before["m"], "cuseg_batch_size_count")
    return {
        "clients": clients,
        "requests": len(all_lat),
        "errors": sum(errors),
        "rps": len(all_lat) / duration,
        "p50": percentile(all_lat, 0.50) * 1000,
        "p99": percentile(all_lat, 0.99) * 1000,
        "mean": (statistics.fmean(all_lat) * 1000) if all_lat else float("nan"),
        "batch": db / dn if dn else float("nan"),
    }


def synthetic_png(w, h):
    """A smooth RGB test image (the pattern of the service tests), as PNG bytes."""
    rows = bytearray()
    for y in range(h):
        rows.append(0)
        for x in range(w):
            for c in range(3):
                v = 127.5 + 120 * math.sin(0.06 * x * (c + 1) + 1) * math.cos(0.04 * y + c)
                rows.append(int(v))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--image", required=True, help="PNG or JPEG file to send, or synthetic:WxH")
    ap.add_argument("--format", choices=["png", "json"], default="png")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds per level")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per level")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname, u.port or 80
    if a.image.startswith("synthetic:"):
        w, h = (int(v) for v in a.image[len("synthetic:"):].split("x"))
        body = synthetic_png(w, h)
    else:
        body = open(a.image, "rb").read()
    ctype = "image/png" if body[:4] == b"\x89PNG" else "image/jpeg"
    path = "/v1/segment" + ("?format=json" if a.format == "json" else "")
    print("| clients | requests | errors | requests/s | p50 ms | p99 ms | mean ms | mean batch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in [int(x) for x in a.concurrency.split(",")]:
        r = run_level(host, port, path, body, ctype, c, a.warmup, a.duration)
        print("| {clients} | {requests} | {errors} | {rps:.1f} | {p50:.1f} | {p99:.1f} | {mean:.1f} | {batch:.2f} |"
              .format(**r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
