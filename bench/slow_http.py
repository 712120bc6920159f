#!/usr/bin/env python3
"""A slow receiver for benchmarks: takes NDJSON posts on 127.0.0.1:PORT and answers each after
as long as RATE events a second would take, so a sink writing to it runs at RATE events/s.

    bench/slow_http.py PORT RATE
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

rate = float(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(body.count(b"\n") / rate)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
