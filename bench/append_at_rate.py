#!/usr/bin/env python3
"""Appends lines of SRC to DST at a fixed rate, as a web server writes its access log.

    append_at_rate.py SRC DST RATE SECS

Writes RATE * SECS lines (wrapping around SRC if it is shorter) in batches every 10 ms,
each batch one write(2), so a reader sees whole lines arriving steadily. Each line's
`[dd/Mon/yyyy:HH:MM:SS +zzzz]` time is replaced with the current UTC time, as a live server
writes it (old times would make every chunk due for upload at once).
"""
import re
import sys
import time

APACHE_TIME = re.compile(rb"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]")


def main() -> None:
    src, dst, rate, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    step = 0.01
    per_step = max(1, int(rate * step))
    total = rate * secs
    start = time.monotonic()
    written = 0
    with open(src, "rb") as f, open(dst, "ab", buffering=0) as out:
        while written < total:
            batch = []
            now = time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime()).encode()
            for _ in range(min(per_step, total - written)):
                line = f.readline()
                if not line:
                    f.seek(0)
                    line = f.readline()
                batch.append(APACHE_TIME.sub(lambda _: now, line, count=1))
            out.write(b"".join(batch))
            written += len(batch)
            delay = start + written / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


if __name__ == "__main__":
    main()
