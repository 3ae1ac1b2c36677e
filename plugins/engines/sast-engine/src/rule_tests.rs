//! One positive and one negative case per built-in rule, and a check that no rule lacks a
//! positive case.

use crate::{Engine, FileOutcome};

mod go_java_cases;
mod infra_cases;
use go_java_cases::GO_JAVA_CASES;
use infra_cases::INFRA_CASES;

fn cases() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    CODE_CASES
        .iter()
        .chain(GO_JAVA_CASES.iter())
        .chain(INFRA_CASES.iter())
}

/// (path, source, rule id that must fire, or "" for "nothing may fire").
const CODE_CASES: &[(&str, &str, &str)] = &[
    // ---- python
    (
        "a.py",
        "def f():\n    cur.execute(f\"SELECT * FROM t WHERE a = '{x}'\")\n",
        "python.sql-injection",
    ),
    (
        "a.py",
        "def f():\n    cur.execute(\"SELECT * FROM t WHERE a = ?\", (x,))\n",
        "",
    ),
    (
        "a.py",
        "def f(h):\n    os.system(\"ping \" + h)\n",
        "python.command-injection.os",
    ),
    (
        "a.py",
        "def f():\n    os.system(\"uptime\")  # os.system(x + y)\n",
        "",
    ),
    (
        "a.py",
        "def f(n):\n    subprocess.run(\"dig \" + n, shell=True)\n",
        "python.command-injection.shell-true",
    ),
    ("a.py", "def f(n):\n    subprocess.run([\"dig\", n])\n", ""),
    (
        "a.py",
        "def f():\n    return eval(request.args[\"e\"])\n",
        "python.code-injection",
    ),
    (
        "a.py",
        "def f():\n    return ast.literal_eval(request.args[\"e\"])\n    model.eval()\n",
        "",
    ),
    (
        "a.py",
        "def f():\n    n = request.args[\"n\"]\n    return f\"<b>{n}</b>\"\n",
        "python.xss.html-response",
    ),
    (
        "a.py",
        "def f():\n    n = request.args[\"n\"]\n    return f\"<b>{escape(n)}</b>\"\n",
        "",
    ),
    (
        "a.py",
        "def f():\n    m = Markup(\"<i>\" + request.args[\"m\"])\n",
        "python.xss.markup",
    ),
    (
        "a.py",
        "def f():\n    return Markup(\"<i>static</i>\")\n",
        "",
    ),
    (
        "a.py",
        "env = Environment(autoescape=False)\n",
        "python.xss.autoescape-off",
    ),
    ("a.py", "env = Environment(autoescape=True)\n", ""),
    (
        "a.py",
        "def f():\n    t = \"<p>\" + request.args[\"n\"]\n    return render_template_string(t)\n",
        "python.template-injection",
    ),
    (
        "a.py",
        "def f():\n    return render_template_string(TPL, n=request.args[\"n\"])\n",
        "",
    ),
    (
        "a.py",
        "def f():\n    return send_file(os.path.join(BASE, request.args[\"f\"]))\n",
        "python.path-traversal",
    ),
    (
        "a.py",
        "def f():\n    p = safe_join(BASE, request.args[\"f\"])\n    return send_file(p)\n",
        "",
    ),
    (
        "a.py",
        "def f():\n    u = request.json[\"url\"]\n    return requests.get(u)\n",
        "python.ssrf",
    ),
    (
        "a.py",
        "def f():\n    u = request.json[\"url\"]\n    if urlparse(u).hostname not in ALLOWED_HOSTS:\n        return\n    return requests.get(u)\n",
        "",
    ),
    (
        "a.py",
        "data = pickle.loads(blob)\n",
        "python.insecure-deserialization",
    ),
    ("a.py", "data = json.loads(blob)\n", ""),
    (
        "a.py",
        "cfg = yaml.load(text)\n",
        "python.insecure-deserialization.yaml",
    ),
    (
        "a.py",
        "cfg = yaml.load(text, Loader=yaml.SafeLoader)\n",
        "",
    ),
    (
        "a.py",
        "p = etree.XMLParser(resolve_entities=True)\n",
        "python.xxe",
    ),
    ("a.py", "p = etree.XMLParser(resolve_entities=False)\n", ""),
    (
        "a.py",
        "h = hashlib.md5(pw).hexdigest()\n",
        "python.weak-hash",
    ),
    (
        "a.py",
        "h = hashlib.md5(body, usedforsecurity=False).hexdigest()\n",
        "",
    ),
    (
        "a.py",
        "c = AES.new(key, AES.MODE_ECB)\n",
        "python.weak-crypto",
    ),
    ("a.py", "c = AES.new(key, AES.MODE_GCM, nonce=n)\n", ""),
    (
        "a.py",
        "def make_token():\n    return random.getrandbits(64)\n",
        "python.insecure-random",
    ),
    (
        "a.py",
        "def backoff(n):\n    return n + random.random()\n",
        "",
    ),
    (
        "a.py",
        "r = requests.get(u, verify=False)\n",
        "python.insecure-tls",
    ),
    (
        "a.py",
        "r = requests.get(u, verify=\"/etc/ca.pem\")\nok = ctx.verify_mode != ssl.CERT_NONE\n",
        "",
    ),
    (
        "a.py",
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLSv1)\n",
        "python.weak-tls-version",
    ),
    (
        "a.py",
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n",
        "",
    ),
    (
        "a.py",
        "ftp.login(\"deploy\", \"s3cr3t-pass\")\n",
        "python.hardcoded-credentials.login",
    ),
    ("a.py", "ftp.login(user, os.environ[\"FTP_PASS\"])\n", ""),
    (
        "a.py",
        "p = tempfile.mktemp()\n",
        "python.insecure-temp-file",
    ),
    ("a.py", "fd, p = tempfile.mkstemp()\n", ""),
    ("a.py", "os.chmod(p, 0o777)\n", "python.world-writable"),
    ("a.py", "os.chmod(p, 0o750)\n", ""),
    (
        "a.py",
        "DB_PASSWORD = \"Pr0d-pa55word!\"\n",
        "code.hardcoded-credentials",
    ),
    (
        "a.py",
        "DB_PASSWORD = os.environ.get(\"DB_PASSWORD\")\nPASSWORD_FILE = \"/run/secrets/pw\"\nsecret = \"changeme\"\n",
        "",
    ),
    (
        "a.py",
        "jwt.decode(t, k, algorithms=[\"none\"])\n",
        "javascript.jwt-none-algorithm",
    ),
    ("a.py", "jwt.decode(t, k, algorithms=[\"HS256\"])\n", ""),
    (
        "a.py",
        "@app.get(\"/files/<path:name>\")\ndef f(name):\n    return send_file(os.path.join(BASE, name))\n",
        "python.path-traversal",
    ),
    (
        "a.py",
        "def f(name):\n    return send_file(os.path.join(BASE, name))\n",
        "",
    ),
    // ---- javascript / typescript
    (
        "a.js",
        "app.get('/', async (req, res) => {\n  await pool.query(`SELECT * FROM u WHERE id = ${req.params.id}`);\n});\n",
        "javascript.sql-injection",
    ),
    (
        "a.js",
        "app.get('/', async (req, res) => {\n  await pool.query('SELECT * FROM u WHERE id = $1', [req.params.id]);\n});\n",
        "",
    ),
    (
        "a.js",
        "app.post('/', (req, res) => {\n  exec(`convert ${req.body.f} out.png`);\n});\n",
        "javascript.command-injection",
    ),
    (
        "a.js",
        "app.post('/', (req, res) => {\n  execFile('convert', [req.body.f]);\n  re.exec(s);\n});\n",
        "",
    ),
    (
        "a.js",
        "spawn('sh', ['-c', cmd + x], { shell: true });\n",
        "javascript.command-injection.shell-option",
    ),
    ("a.js", "spawn('ls', ['-l']);\n", ""),
    (
        "a.js",
        "app.get('/', (req, res) => {\n  res.sendFile(path.join(DIR, req.query.name));\n});\n",
        "javascript.path-traversal",
    ),
    (
        "a.js",
        "app.get('/', (req, res) => {\n  res.sendFile(path.join(DIR, path.basename(req.query.name)));\n});\n",
        "",
    ),
    (
        "a.js",
        "app.get('/', (req, res) => {\n  res.send('<p>' + req.query.q + '</p>');\n});\n",
        "javascript.xss.response",
    ),
    (
        "a.js",
        "app.get('/', (req, res) => {\n  res.send('<p>' + escapeHtml(req.query.q) + '</p>');\n});\n",
        "",
    ),
    (
        "a.ts",
        "function show() {\n  el.innerHTML = location.hash.slice(1);\n}\n",
        "javascript.xss.dom-sink",
    ),
    (
        "a.ts",
        "function show() {\n  el.textContent = location.hash.slice(1);\n  el.innerHTML = '<b>static</b>';\n}\n",
        "",
    ),
    (
        "a.tsx",
        "const C = ({ body }) => <div dangerouslySetInnerHTML={{ __html: body }} />;\n",
        "javascript.xss.dangerously-set-inner-html",
    ),
    (
        "a.tsx",
        "const C = ({ body }) => <div dangerouslySetInnerHTML={{ __html: DOMPurify.sanitize(body) }} />;\n",
        "",
    ),
    (
        "a.js",
        "function f(req) {\n  return eval(req.body.expr);\n}\n",
        "javascript.code-injection.eval",
    ),
    (
        "a.js",
        "function f(req) {\n  return JSON.parse(req.body.expr); // eval(req.body.expr)\n}\n",
        "",
    ),
    (
        "a.js",
        "const fn = new Function('a', 'return ' + body);\n",
        "javascript.code-injection.function",
    ),
    (
        "a.js",
        "const fn = new Function('a', 'return a + 1');\n",
        "",
    ),
    (
        "a.js",
        "const out = vm.runInNewContext(req.body.code, {});\n",
        "javascript.code-injection.vm",
    ),
    ("a.js", "const out = vm.runInNewContext('1 + 1', {});\n", ""),
    (
        "a.js",
        "setTimeout(\"run('\" + x + \"')\", 10);\n",
        "javascript.code-injection.string-timer",
    ),
    ("a.js", "setTimeout(() => run(x), 10);\n", ""),
    (
        "a.js",
        "const o = serialize.unserialize(cookie);\n",
        "javascript.insecure-deserialization",
    ),
    ("a.js", "const o = JSON.parse(cookie);\n", ""),
    (
        "a.js",
        "crypto.createHash('sha1').update(pw);\n",
        "javascript.weak-hash",
    ),
    ("a.js", "crypto.createHash('sha256').update(body);\n", ""),
    (
        "a.js",
        "crypto.createCipheriv('aes-128-ecb', k, null);\n",
        "javascript.weak-crypto",
    ),
    ("a.js", "crypto.createCipheriv('aes-256-gcm', k, iv);\n", ""),
    (
        "a.js",
        "function resetToken() {\n  return Math.random().toString(36);\n}\n",
        "javascript.insecure-random",
    ),
    (
        "a.js",
        "function jitter(ms) {\n  return ms * Math.random();\n}\n",
        "",
    ),
    (
        "a.js",
        "const a = new https.Agent({ rejectUnauthorized: false });\n",
        "javascript.insecure-tls",
    ),
    (
        "a.js",
        "const a = new https.Agent({ rejectUnauthorized: true, ca });\n",
        "",
    ),
    (
        "a.ts",
        "export async function p(req: Request) {\n  return fetch(`http://${req.params.host}/x`);\n}\n",
        "javascript.ssrf",
    ),
    (
        "a.ts",
        "export async function p(req: Request) {\n  return fetch('https://api.example.com/x', { body: req.body });\n}\n",
        "",
    ),
    (
        "a.ts",
        "jwt.verify(t, k, { algorithms: ['none'] });\n",
        "javascript.jwt-none-algorithm",
    ),
    (
        "a.ts",
        "jwt.sign(p, 'literal-signing-key', { expiresIn: '1h' });\n",
        "javascript.hardcoded-credentials.jwt",
    ),
    (
        "a.ts",
        "jwt.sign(p, process.env.KEY!, { expiresIn: '1h' });\n",
        "",
    ),
    (
        "a.ts",
        "const apiKey = \"k3y-live-abcdef\";\n",
        "code.hardcoded-credentials",
    ),
    (
        "a.ts",
        "const apiKey: string = process.env.API_KEY ?? \"\";\nif (password === \"hunter2hunter2\") {}\n",
        "",
    ),
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
    for (path, src, want) in cases() {
        let got = fired(path, src);
        let ok = if want.is_empty() {
            got.is_empty()
        } else {
            got.iter().any(|g| g == want)
        };
        if !ok {
            failures.push(format!("{path}: want {want:?}, got {got:?}\n{src}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_a_positive_case() {
    let missing: Vec<String> = engine()
        .rule_infos()
        .into_iter()
        .map(|i| i.id)
        .filter(|id| !cases().any(|(_, _, w)| w == id))
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
    assert!(
        missing.is_empty(),
        "plugins/sast/README.md does not list {missing:?}; regenerate with --list-rules"
    );
}
