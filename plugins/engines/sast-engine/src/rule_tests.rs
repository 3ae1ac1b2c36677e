//! One positive and one negative case per built-in rule, and a check that no rule lacks a
//! positive case.

use crate::{Engine, FileOutcome};

/// (path, source, rule id that must fire, or "" for "nothing may fire").
const CASES: &[(&str, &str, &str)] = &[
    // ---- python
    ("a.py", "def f():\n    cur.execute(f\"SELECT * FROM t WHERE a = '{x}'\")\n", "python.sql-injection"),
    ("a.py", "def f():\n    cur.execute(\"SELECT * FROM t WHERE a = ?\", (x,))\n", ""),
    ("a.py", "def f(h):\n    os.system(\"ping \" + h)\n", "python.command-injection.os"),
    ("a.py", "def f():\n    os.system(\"uptime\")  # os.system(x + y)\n", ""),
    ("a.py", "def f(n):\n    subprocess.run(\"dig \" + n, shell=True)\n", "python.command-injection.shell-true"),
    ("a.py", "def f(n):\n    subprocess.run([\"dig\", n])\n", ""),
    ("a.py", "def f():\n    return eval(request.args[\"e\"])\n", "python.code-injection"),
    ("a.py", "def f():\n    return ast.literal_eval(request.args[\"e\"])\n    model.eval()\n", ""),
    ("a.py", "def f():\n    n = request.args[\"n\"]\n    return f\"<b>{n}</b>\"\n", "python.xss.html-response"),
    ("a.py", "def f():\n    n = request.args[\"n\"]\n    return f\"<b>{escape(n)}</b>\"\n", ""),
    ("a.py", "def f():\n    m = Markup(\"<i>\" + request.args[\"m\"])\n", "python.xss.markup"),
    ("a.py", "def f():\n    return Markup(\"<i>static</i>\")\n", ""),
    ("a.py", "env = Environment(autoescape=False)\n", "python.xss.autoescape-off"),
    ("a.py", "env = Environment(autoescape=True)\n", ""),
    ("a.py", "def f():\n    t = \"<p>\" + request.args[\"n\"]\n    return render_template_string(t)\n", "python.template-injection"),
    ("a.py", "def f():\n    return render_template_string(TPL, n=request.args[\"n\"])\n", ""),
    ("a.py", "def f():\n    return send_file(os.path.join(BASE, request.args[\"f\"]))\n", "python.path-traversal"),
    ("a.py", "def f():\n    p = safe_join(BASE, request.args[\"f\"])\n    return send_file(p)\n", ""),
    ("a.py", "def f():\n    u = request.json[\"url\"]\n    return requests.get(u)\n", "python.ssrf"),
    ("a.py", "def f():\n    u = request.json[\"url\"]\n    if urlparse(u).hostname not in ALLOWED_HOSTS:\n        return\n    return requests.get(u)\n", ""),
    ("a.py", "data = pickle.loads(blob)\n", "python.insecure-deserialization"),
    ("a.py", "data = json.loads(blob)\n", ""),
    ("a.py", "cfg = yaml.load(text)\n", "python.insecure-deserialization.yaml"),
    ("a.py", "cfg = yaml.load(text, Loader=yaml.SafeLoader)\n", ""),
    ("a.py", "p = etree.XMLParser(resolve_entities=True)\n", "python.xxe"),
    ("a.py", "p = etree.XMLParser(resolve_entities=False)\n", ""),
    ("a.py", "h = hashlib.md5(pw).hexdigest()\n", "python.weak-hash"),
    ("a.py", "h = hashlib.md5(body, usedforsecurity=False).hexdigest()\n", ""),
    ("a.py", "c = AES.new(key, AES.MODE_ECB)\n", "python.weak-crypto"),
    ("a.py", "c = AES.new(key, AES.MODE_GCM, nonce=n)\n", ""),
    ("a.py", "def make_token():\n    return random.getrandbits(64)\n", "python.insecure-random"),
    ("a.py", "def backoff(n):\n    return n + random.random()\n", ""),
    ("a.py", "r = requests.get(u, verify=False)\n", "python.insecure-tls"),
    ("a.py", "r = requests.get(u, verify=\"/etc/ca.pem\")\nok = ctx.verify_mode != ssl.CERT_NONE\n", ""),
    ("a.py", "ctx = ssl.SSLContext(ssl.PROTOCOL_TLSv1)\n", "python.weak-tls-version"),
    ("a.py", "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n", ""),
    ("a.py", "ftp.login(\"deploy\", \"s3cr3t-pass\")\n", "python.hardcoded-credentials.login"),
    ("a.py", "ftp.login(user, os.environ[\"FTP_PASS\"])\n", ""),
    ("a.py", "p = tempfile.mktemp()\n", "python.insecure-temp-file"),
    ("a.py", "fd, p = tempfile.mkstemp()\n", ""),
    ("a.py", "os.chmod(p, 0o777)\n", "python.world-writable"),
    ("a.py", "os.chmod(p, 0o750)\n", ""),
    ("a.py", "DB_PASSWORD = \"Pr0d-pa55word!\"\n", "code.hardcoded-credentials"),
    ("a.py", "DB_PASSWORD = os.environ.get(\"DB_PASSWORD\")\nPASSWORD_FILE = \"/run/secrets/pw\"\nsecret = \"changeme\"\n", ""),
    ("a.py", "jwt.decode(t, k, algorithms=[\"none\"])\n", "javascript.jwt-none-algorithm"),
    ("a.py", "jwt.decode(t, k, algorithms=[\"HS256\"])\n", ""),
    ("a.py", "@app.get(\"/files/<path:name>\")\ndef f(name):\n    return send_file(os.path.join(BASE, name))\n", "python.path-traversal"),
    ("a.py", "def f(name):\n    return send_file(os.path.join(BASE, name))\n", ""),
    // ---- javascript / typescript
    ("a.js", "app.get('/', async (req, res) => {\n  await pool.query(`SELECT * FROM u WHERE id = ${req.params.id}`);\n});\n", "javascript.sql-injection"),
    ("a.js", "app.get('/', async (req, res) => {\n  await pool.query('SELECT * FROM u WHERE id = $1', [req.params.id]);\n});\n", ""),
    ("a.js", "app.post('/', (req, res) => {\n  exec(`convert ${req.body.f} out.png`);\n});\n", "javascript.command-injection"),
    ("a.js", "app.post('/', (req, res) => {\n  execFile('convert', [req.body.f]);\n  re.exec(s);\n});\n", ""),
    ("a.js", "spawn('sh', ['-c', cmd + x], { shell: true });\n", "javascript.command-injection.shell-option"),
    ("a.js", "spawn('ls', ['-l']);\n", ""),
    ("a.js", "app.get('/', (req, res) => {\n  res.sendFile(path.join(DIR, req.query.name));\n});\n", "javascript.path-traversal"),
    ("a.js", "app.get('/', (req, res) => {\n  res.sendFile(path.join(DIR, path.basename(req.query.name)));\n});\n", ""),
    ("a.js", "app.get('/', (req, res) => {\n  res.send('<p>' + req.query.q + '</p>');\n});\n", "javascript.xss.response"),
    ("a.js", "app.get('/', (req, res) => {\n  res.send('<p>' + escapeHtml(req.query.q) + '</p>');\n});\n", ""),
    ("a.ts", "function show() {\n  el.innerHTML = location.hash.slice(1);\n}\n", "javascript.xss.dom-sink"),
    ("a.ts", "function show() {\n  el.textContent = location.hash.slice(1);\n  el.innerHTML = '<b>static</b>';\n}\n", ""),
    ("a.tsx", "const C = ({ body }) => <div dangerouslySetInnerHTML={{ __html: body }} />;\n", "javascript.xss.dangerously-set-inner-html"),
    ("a.tsx", "const C = ({ body }) => <div dangerouslySetInnerHTML={{ __html: DOMPurify.sanitize(body) }} />;\n", ""),
    ("a.js", "function f(req) {\n  return eval(req.body.expr);\n}\n", "javascript.code-injection.eval"),
    ("a.js", "function f(req) {\n  return JSON.parse(req.body.expr); // eval(req.body.expr)\n}\n", ""),
    ("a.js", "const fn = new Function('a', 'return ' + body);\n", "javascript.code-injection.function"),
    ("a.js", "const fn = new Function('a', 'return a + 1');\n", ""),
    ("a.js", "const out = vm.runInNewContext(req.body.code, {});\n", "javascript.code-injection.vm"),
    ("a.js", "const out = vm.runInNewContext('1 + 1', {});\n", ""),
    ("a.js", "setTimeout(\"run('\" + x + \"')\", 10);\n", "javascript.code-injection.string-timer"),
    ("a.js", "setTimeout(() => run(x), 10);\n", ""),
    ("a.js", "const o = serialize.unserialize(cookie);\n", "javascript.insecure-deserialization"),
    ("a.js", "const o = JSON.parse(cookie);\n", ""),
    ("a.js", "crypto.createHash('sha1').update(pw);\n", "javascript.weak-hash"),
    ("a.js", "crypto.createHash('sha256').update(body);\n", ""),
    ("a.js", "crypto.createCipheriv('aes-128-ecb', k, null);\n", "javascript.weak-crypto"),
    ("a.js", "crypto.createCipheriv('aes-256-gcm', k, iv);\n", ""),
    ("a.js", "function resetToken() {\n  return Math.random().toString(36);\n}\n", "javascript.insecure-random"),
    ("a.js", "function jitter(ms) {\n  return ms * Math.random();\n}\n", ""),
    ("a.js", "const a = new https.Agent({ rejectUnauthorized: false });\n", "javascript.insecure-tls"),
    ("a.js", "const a = new https.Agent({ rejectUnauthorized: true, ca });\n", ""),
    ("a.ts", "export async function p(req: Request) {\n  return fetch(`http://${req.params.host}/x`);\n}\n", "javascript.ssrf"),
    ("a.ts", "export async function p(req: Request) {\n  return fetch('https://api.example.com/x', { body: req.body });\n}\n", ""),
    ("a.ts", "jwt.verify(t, k, { algorithms: ['none'] });\n", "javascript.jwt-none-algorithm"),
    ("a.ts", "jwt.sign(p, 'literal-signing-key', { expiresIn: '1h' });\n", "javascript.hardcoded-credentials.jwt"),
    ("a.ts", "jwt.sign(p, process.env.KEY!, { expiresIn: '1h' });\n", ""),
    ("a.ts", "const apiKey = \"k3y-live-abcdef\";\n", "code.hardcoded-credentials"),
    ("a.ts", "const apiKey: string = process.env.API_KEY ?? \"\";\nif (password === \"hunter2hunter2\") {}\n", ""),
    // ---- go
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\tq := fmt.Sprintf(\"SELECT a FROM t WHERE b = '%s'\", r.FormValue(\"b\"))\n\tdb.Query(q)\n}\n", "go.sql-injection"),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\tdb.Query(\"SELECT a FROM t WHERE b = $1\", r.FormValue(\"b\"))\n}\n", ""),
    ("a.go", "func f() {\n\tdb.QueryContext(ctx, \"SELECT a FROM t WHERE b = '\" + b + \"'\")\n}\n", "go.sql-injection.context"),
    ("a.go", "func f() {\n\tdb.QueryContext(ctx, \"SELECT a FROM t WHERE b = $1\", b)\n}\n", ""),
    ("a.go", "func f(x string) {\n\texec.Command(\"sh\", \"-c\", \"tar \"+x).Run()\n}\n", "go.command-injection.shell"),
    ("a.go", "func f(x string) {\n\texec.Command(\"tar\", \"czf\", \"--\", x).Run()\n}\n", ""),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\texec.Command(r.FormValue(\"p\")).Run()\n}\n", "go.command-injection.program"),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\tos.Open(filepath.Join(base, r.URL.Query().Get(\"n\")))\n}\n", "go.path-traversal"),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\tos.Open(filepath.Join(base, filepath.Base(r.URL.Query().Get(\"n\"))))\n}\n", ""),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\thttp.Get(r.URL.Query().Get(\"u\"))\n}\n", "go.ssrf"),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\thttp.Get(\"https://example.com/\")\n}\n", ""),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\tfmt.Fprintf(w, \"<p>%s</p>\", r.FormValue(\"n\"))\n}\n", "go.xss.response"),
    ("a.go", "func f(w http.ResponseWriter, r *http.Request) {\n\tfmt.Fprintf(w, \"<p>%s</p>\", html.EscapeString(r.FormValue(\"n\")))\n}\n", ""),
    ("a.go", "func f(b string) {\n\tx := template.HTML(\"<b>\" + b)\n}\n", "go.xss.template-html"),
    ("a.go", "func f() {\n\tx := template.HTML(\"<b>static</b>\")\n}\n", ""),
    ("a.go", "s := md5.Sum(b)\n", "go.weak-hash"),
    ("a.go", "s := sha256.Sum256(b)\n", ""),
    ("a.go", "c, _ := des.NewCipher(k)\n", "go.weak-crypto"),
    ("a.go", "c, _ := aes.NewCipher(k)\n", ""),
    ("a.go", "c := &tls.Config{InsecureSkipVerify: true}\n", "go.insecure-tls"),
    ("a.go", "c := &tls.Config{InsecureSkipVerify: false}\n", ""),
    ("a.go", "c := &tls.Config{MinVersion: tls.VersionTLS11}\n", "go.weak-tls-version"),
    ("a.go", "c := &tls.Config{MinVersion: tls.VersionTLS12}\n", ""),
    ("a.go", "import mrand \"math/rand\"\nfunc SessionID() int {\n\treturn mrand.Int()\n}\n", "go.insecure-random"),
    ("a.go", "import \"crypto/rand\"\nfunc SessionID() {\n\trand.Read(b)\n}\n", ""),
    // ---- java
    ("A.java", "class A {\n  ResultSet f(String n) throws Exception {\n    return st.executeQuery(\"SELECT * FROM u WHERE n = '\" + n + \"'\");\n  }\n}\n", "java.sql-injection"),
    ("A.java", "class A {\n  ResultSet f(String n) throws Exception {\n    return conn.prepareStatement(\"SELECT * FROM u WHERE n = ?\").executeQuery();\n  }\n}\n", ""),
    ("A.java", "class A {\n  void f(String h) throws Exception {\n    Runtime.getRuntime().exec(\"ping \" + h);\n  }\n}\n", "java.command-injection.runtime-exec"),
    ("A.java", "class A {\n  void f() throws Exception {\n    Runtime.getRuntime().exec(\"uptime\");\n  }\n}\n", ""),
    ("A.java", "class A {\n  void f(String h) throws Exception {\n    new ProcessBuilder(\"sh\", \"-c\", \"ping \" + h).start();\n  }\n}\n", "java.command-injection.shell"),
    ("A.java", "class A {\n  void f(String h) throws Exception {\n    new ProcessBuilder(\"ping\", h).start();\n  }\n}\n", ""),
    ("A.java", "class A {\n  void f(HttpServletRequest req) {\n    File f = new File(\"/x\", req.getParameter(\"n\"));\n  }\n}\n", "java.path-traversal"),
    ("A.java", "class A {\n  void f(HttpServletRequest req) {\n    Path p = BASE.resolve(req.getParameter(\"n\")).normalize();\n    if (!p.startsWith(BASE)) throw new SecurityException();\n  }\n}\n", ""),
    ("A.java", "class A {\n  void f(HttpServletRequest req) throws Exception {\n    new URL(req.getParameter(\"u\")).openStream();\n  }\n}\n", "java.ssrf"),
    ("A.java", "class A {\n  void f(HttpServletRequest req) throws Exception {\n    new URL(\"https://example.com\").openStream();\n  }\n}\n", ""),
    ("A.java", "class A {\n  void f(HttpServletRequest req, HttpServletResponse r) throws Exception {\n    r.getWriter().println(\"<p>\" + req.getParameter(\"n\"));\n  }\n}\n", "java.xss.writer"),
    ("A.java", "class A {\n  void f(HttpServletRequest req, HttpServletResponse r) throws Exception {\n    r.getWriter().println(\"<p>\" + Encode.forHtml(req.getParameter(\"n\")));\n  }\n}\n", ""),
    ("A.java", "class A {\n  @GetMapping(\"/p\")\n  String p(@RequestParam(\"u\") String url) throws Exception {\n    return new URL(url).openStream().toString();\n  }\n}\n", "java.ssrf"),
    ("A.java", "class A {\n  String p(String url) throws Exception {\n    return new URL(url).openStream().toString();\n  }\n}\n", ""),
    ("A.java", "Object o = new ObjectInputStream(in).readObject();\n", "java.insecure-deserialization"),
    ("A.java", "Order o = new ObjectMapper().readValue(json, Order.class);\n", ""),
    ("A.java", "class A {\n  void f() {\n    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();\n  }\n}\n", "java.xxe"),
    ("A.java", "class A {\n  void f() {\n    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();\n    f.setFeature(\"http://apache.org/xml/features/disallow-doctype-decl\", true);\n  }\n}\n", ""),
    ("A.java", "byte[] d = MessageDigest.getInstance(\"SHA-1\").digest(pw);\n", "java.weak-hash"),
    ("A.java", "byte[] d = MessageDigest.getInstance(\"SHA-256\").digest(b);\n", ""),
    ("A.java", "Cipher c = Cipher.getInstance(\"AES\");\n", "java.weak-crypto"),
    ("A.java", "Cipher c = Cipher.getInstance(\"AES/GCM/NoPadding\");\n", ""),
    ("A.java", "class A {\n  String resetToken() {\n    return Long.toHexString(new Random().nextLong());\n  }\n}\n", "java.insecure-random"),
    ("A.java", "class A {\n  int jitter() {\n    return new Random().nextInt(100);\n  }\n}\n", ""),
    ("A.java", "public void checkServerTrusted(X509Certificate[] c, String a) {}\n", "java.insecure-tls.trust-all"),
    ("A.java", "public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException { delegate.checkServerTrusted(c, a); }\n", ""),
    ("A.java", "HostnameVerifier any = (h, s) -> true;\n", "java.insecure-tls.hostname"),
    ("A.java", "HostnameVerifier v = (h, s) -> h.equals(EXPECTED);\n", ""),
    ("A.java", "SSLContext c = SSLContext.getInstance(\"TLSv1\");\n", "java.weak-tls-version"),
    ("A.java", "SSLContext c = SSLContext.getInstance(\"TLS\");\n", ""),
    // ---- shell / Dockerfile / YAML
    ("x.sh", "curl -fsSL https://get.example.com | sudo bash\n", "shell.curl-pipe-shell"),
    ("x.sh", "curl -fsSL -o get.sh https://get.example.com\n# curl x | sh\n", ""),
    ("x.sh", "curl -sk https://x/y -o y\n", "shell.insecure-tls"),
    ("x.sh", "curl -s https://x/y -o y-k\n", ""),
    ("x.sh", "OUT=/tmp/out.$$\n", "shell.insecure-temp-file"),
    ("x.sh", "OUT=$(mktemp)\n", ""),
    ("x.sh", "chmod -R a+w /srv\n", "shell.world-writable"),
    ("x.sh", "chmod 0755 /srv/bin\n", ""),
    ("x.sh", "eval \"$CMD\"\n", "shell.code-injection.eval"),
    ("x.sh", "echo eval is bad\n", ""),
    ("x.sh", "mysql -u root -pS3cretPass db\n", "shell.hardcoded-credentials"),
    ("x.sh", "echo \"$TOKEN\" | docker login -u x --password-stdin\n", ""),
    ("Dockerfile", "FROM alpine:3.20\nENV API_TOKEN=abcd1234efgh\n", "dockerfile.hardcoded-credentials"),
    ("Dockerfile", "FROM alpine:3.20\nENV API_TOKEN_FILE=/run/secrets/t\n", ""),
    ("Dockerfile", "FROM alpine:3.20\nADD https://x/y.tgz /opt/\n", "dockerfile.unverified-download"),
    ("Dockerfile", "FROM alpine:3.20\nADD --checksum=sha256:00 https://x/y.tgz /opt/\n", ""),
    ("Dockerfile", "FROM alpine:3.20\nUSER root\n", "dockerfile.runs-as-root"),
    ("Dockerfile", "FROM alpine:3.20\nUSER 10001\n", ""),
    ("Dockerfile", "FROM alpine\n", "dockerfile.unpinned-image"),
    ("Dockerfile", "FROM alpine:3.20@sha256:abc\n", ""),
    ("ci/build.sh", "echo \"token is $GITHUB_TOKEN\"\n", "secret-in-log"),
    ("ci/build.sh", "echo \"$GITHUB_TOKEN\" | gh auth login --with-token\n", ""),
    ("k8s/pod.yaml", "spec:\n  containers:\n    - image: nginx:latest\n", "container.unpinned-image"),
    ("k8s/pod.yaml", "spec:\n  containers:\n    - image: nginx:1.27.2\n", ""),
    ("compose.yml", "services:\n  a:\n    privileged: true\n", "container.privileged"),
    ("compose.yml", "services:\n  a:\n    privileged: false\n", ""),
    ("run.sh", "docker run --privileged img\n", "shell.privileged-container"),
    ("run.sh", "docker run img\n", ""),
    ("k8s/pod.yaml", "securityContext:\n  allowPrivilegeEscalation: true\n", "container.privilege-escalation"),
    ("k8s/pod.yaml", "securityContext:\n  allowPrivilegeEscalation: false\n", ""),
    ("k8s/pod.yaml", "securityContext:\n  runAsUser: 0\n", "container.runs-as-root"),
    ("k8s/pod.yaml", "securityContext:\n  runAsUser: 1000\n", ""),
    ("k8s/pod.yaml", "spec:\n  hostPID: true\n", "container.host-namespace"),
    ("k8s/pod.yaml", "spec:\n  hostPID: false\n", ""),
    ("compose.yml", "services:\n  a:\n    network_mode: host\n", "container.host-network"),
    ("compose.yml", "services:\n  a:\n    network_mode: bridge\n", ""),
    ("compose.yml", "services:\n  a:\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n", "container.docker-socket-mount"),
    ("compose.yml", "services:\n  a:\n    volumes:\n      - ./data:/data\n", ""),
    ("compose.yml", "services:\n  a:\n    cap_add:\n      - CHOWN\n      - SYS_ADMIN\n", "container.dangerous-capability"),
    ("k8s/pod.yaml", "capabilities:\n  drop:\n    - ALL\n", ""),
    ("k8s/pod.yaml", "capabilities:\n  add: [\"NET_ADMIN\"]\n", "container.dangerous-capability.inline"),
    ("compose.yml", "services:\n  a:\n    cap_drop: [ALL]\n", ""),
    ("k8s/pod.yaml", "volumes:\n  - name: h\n    hostPath:\n      path: /\n", "container.host-path-root"),
    ("k8s/pod.yaml", "volumes:\n  - name: h\n    hostPath:\n      path: /var/log\n", ""),
    ("compose.yml", "services:\n  a:\n    volumes:\n      - /:/host\n", "container.host-path-root.inline"),
    (".github/workflows/a.yml", "on:\n  pull_request_target:\n", "github-actions.pull-request-target"),
    (".github/workflows/a.yml", "on:\n  pull_request:\n", ""),
    (".github/workflows/a.yml", "permissions: write-all\n", "github-actions.excessive-permissions"),
    (".github/workflows/a.yml", "permissions:\n  contents: read\n", ""),
    (".github/workflows/a.yml", "steps:\n  - uses: someone/action@v2\n", "github-actions.unpinned-action"),
    (".github/workflows/a.yml", "steps:\n  - uses: someone/action@0123456789abcdef0123456789abcdef01234567\n  - uses: actions/checkout@v4\n", ""),
    (".github/workflows/a.yml", "env:\n  ACTIONS_ALLOW_UNSECURE_COMMANDS: true\n", "github-actions.unsecure-commands"),
    (".github/workflows/a.yml", "env:\n  ACTIONS_ALLOW_UNSECURE_COMMANDS: false\n", ""),
    (".github/workflows/a.yml", "steps:\n  - run: echo \"${{ github.event.issue.title }}\"\n", "github-actions.script-injection"),
    (".github/workflows/a.yml", "on: pull_request_target\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n", "github-actions.checkout-untrusted-code"),
];

fn engine() -> &'static Engine {
    static E: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| Engine::new(Vec::new()).unwrap())
}

fn fired(path: &str, src: &str) -> Vec<String> {
    match engine().scan_bytes(path, src.as_bytes()) {
        FileOutcome::Scanned(v) => v.into_iter().map(|f| f.rule_id).collect(),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn every_case() {
    let mut failures = Vec::new();
    for (path, src, want) in CASES {
        let got = fired(path, src);
        let ok = if want.is_empty() { got.is_empty() } else { got.iter().any(|g| g == want) };
        if !ok {
            failures.push(format!("{path}: want {want:?}, got {got:?}\n{src}"));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_rule_has_a_positive_case() {
    let missing: Vec<String> = engine()
        .rule_infos()
        .into_iter()
        .map(|i| i.id)
        .filter(|id| !CASES.iter().any(|(_, _, w)| w == id))
        .collect();
    assert!(missing.is_empty(), "rules without a test case: {missing:?}");
}

#[test]
fn plugin_readme_lists_every_rule() {
    let readme = include_str!("../../../sast/README.md");
    let missing: Vec<String> = engine()
        .rule_infos()
        .into_iter()
        .map(|i| i.id)
        .filter(|id| !readme.contains(&format!("| `{id}` |")))
        .collect();
    assert!(missing.is_empty(), "plugins/sast/README.md does not list {missing:?}; regenerate with --list-rules");
}
