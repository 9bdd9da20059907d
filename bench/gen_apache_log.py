#!/usr/bin/env python3
"""Writes a deterministic Apache combined access log for logship's benchmarks.

Usage: gen_apache_log.py OUT [LINES] [--seed N] [--hours H] [--seq]

The same seed and line count always give the same bytes. Lines look like a busy web server's:
realistic client addresses (IPv4, some IPv6), users, methods, paths with query strings, status
codes and sizes in realistic proportions, referers, a mix of browser and bot user agents, and
timestamps increasing over H hours (default 4, so a run spans several hourly time slices).
About 200 bytes per line: 2,000,000 lines are about 400 MB.

With --seq every request path carries a unique sequence number (`/seq/<n>`), which the fault
suite uses to count lost and duplicated lines.
"""

import argparse
import random
import sys
from datetime import datetime, timedelta, timezone

PATHS = [
    "/", "/index.html", "/favicon.ico", "/robots.txt", "/css/site.css", "/js/app.js",
    "/images/logo.png", "/api/v1/items", "/api/v1/items/{n}", "/api/v1/users/{n}/orders",
    "/search?q={w}&page={p}", "/products/{n}", "/products/{n}/reviews?sort=recent",
    "/cart", "/checkout", "/login", "/logout", "/static/fonts/roboto-{p}.woff2",
    "/blog/{y}/{m}/{w}-{w}.html", "/wp-login.php", "/.env", "/healthz",
]
WORDS = ["shoes", "jacket", "rust", "linux", "coffee", "camera", "tent", "lamp", "desk", "phone"]
METHODS = ["GET"] * 86 + ["POST"] * 10 + ["HEAD"] * 2 + ["PUT", "DELETE"]
STATUS = [200] * 80 + [304] * 6 + [301, 302, 302] + [404] * 5 + [403, 400, 500, 502, 503]
REFERERS = [
    "-", "-", "-", "https://www.google.com/", "https://www.bing.com/search?q=shop",
    "https://example.com/", "https://example.com/products/12", "https://t.co/abc123",
]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "ELB-HealthChecker/2.0",
    "curl/8.5.0",
    "python-requests/2.32.3",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("lines", nargs="?", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=20150621)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--seq", action="store_true")
    ap.add_argument("--start", default="2015-06-21T10:00:00+00:00")
    a = ap.parse_args()

    rnd = random.Random(a.seed)
    start = datetime.fromisoformat(a.start).astimezone(timezone(timedelta(hours=9)))
    step = a.hours * 3600.0 / max(a.lines, 1)
    clients = [
        f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        for _ in range(5000)
    ] + [f"2001:db8:{rnd.randint(0, 65535):x}::{rnd.randint(1, 65535):x}" for _ in range(300)]
    users = ["-"] * 30 + ["alice", "bob", "frank"]

    out = open(a.out, "w", encoding="ascii", newline="\n")
    buf = []
    for i in range(a.lines):
        t = start + timedelta(seconds=i * step)
        path = rnd.choice(PATHS).format(
            n=rnd.randint(1, 99999), w=rnd.choice(WORDS), p=rnd.randint(1, 20),
            y=rnd.randint(2010, 2015), m=f"{rnd.randint(1, 12):02d}",
        )
        if a.seq:
            path = f"/seq/{i}"
        status = rnd.choice(STATUS)
        size = "-" if status in (304, 204) or rnd.random() < 0.02 else str(int(rnd.lognormvariate(8, 1.5)))
        buf.append(
            f'{rnd.choice(clients)} - {rnd.choice(users)} [{t.strftime("%d/%b/%Y:%H:%M:%S %z")}] '
            f'"{rnd.choice(METHODS)} {path} HTTP/1.1" {status} {size} '
            f'"{rnd.choice(REFERERS)}" "{rnd.choice(AGENTS)}"\n'
        )
        if len(buf) >= 10000:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
