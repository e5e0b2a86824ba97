"""A loopback stand-in for Twilio's Messages API during benchmarks, so the dispatcher's sends stay
on this machine: accepts every POST with 201 and a message SID. Usage: twilio_sink.py PORT"""
import http.server
import itertools
import json
import sys

counter = itertools.count()


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"sid": "SM%032x" % next(counter), "status": "queued"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
