#!/usr/bin/env python3
"""A trace collector for benchmarks: takes OTLP/HTTP protobuf exports on 127.0.0.1:PORT and
answers at once; on SIGTERM it counts the spans it took and writes `spans=N requests=M` to OUT.

    bench/otlp_sink.py PORT OUT
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

bodies = []


def fields(buf):
    """The (number, wire type, value) of each field of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            size, i = varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def count_spans(body):
    """ExportTraceServiceRequest.resource_spans(1).scope_spans(2).spans(2)."""
    n = 0
    for number, _, resource in fields(body):
        if number != 1:
            continue
        for number, _, scope in fields(resource):
            if number != 2:
                continue
            n += sum(1 for number, _, _ in fields(scope) if number == 2)
    return n


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Sink)

    def stop(*_):
        with open(out, "w") as f:
            spans = sum(count_spans(body) for body in bodies)
            f.write(f"spans={spans} requests={len(bodies)}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
