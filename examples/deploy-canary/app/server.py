# A small web service: answers every request with its release name, and 500 when the release
# was built as a bad one (RELEASE ending in "-bad") — except /health, so the bad release starts
# and passes its health check, as a real regression would.
import http.server, os
here = os.path.dirname(os.path.abspath(__file__))
release = open(os.path.join(here, "release.txt")).read().strip()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        bad = release.endswith("-bad") and self.path != "/health"
        body = (release + "\n").encode()
        self.send_response(500 if bad else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
