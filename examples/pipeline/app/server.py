# The example's web service: answers every request with a greeting and the release it was built
# as (VERSION, written by the Package build), so a deployment's traffic shows which release
# answers. kiln's local driver starts it with PORT set (one process per ECS task).
import http.server, os, subprocess
here = os.path.dirname(os.path.abspath(__file__))
release = open(os.path.join(here, "VERSION")).read().split()[0]
greeting = subprocess.run(["sh", os.path.join(here, "greet.sh"), "pipeline"], capture_output=True, text=True).stdout.strip()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"{greeting} ({release})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
