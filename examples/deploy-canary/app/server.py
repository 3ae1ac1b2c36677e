# A small web service: answers every request with its release name, and 500 when the release
# was built as a bad one (RELEASE ending in "-bad") — except /health, so the bad release starts
# and passes its health check, as a real regression would. /metrics reports app_errors (1 when
# bad) for alarms on numbers the instances report.
import http.server, os
here = os.path.dirname(os.path.abspath(__file__))
release = open(os.path.join(here, "release.txt")).read().strip()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/metrics":
            # What kiln polls with `targets.settings.metrics` (alarms on `instance.app_errors`).
            self.answer(200, "# TYPE app_errors gauge\napp_errors %d\n" % release.endswith("-bad"))
            return
        bad = release.endswith("-bad") and self.path != "/health"
        self.answer(500 if bad else 200, release + "\n")

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
