//! Rule cases for Go and Java.

/// (path, source, rule id that must fire, or "" for "nothing may fire").
pub const GO_JAVA_CASES: &[(&str, &str, &str)] = &[
    // ---- go
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\tq := fmt.Sprintf(\"SELECT a FROM t WHERE b = '%s'\", r.FormValue(\"b\"))\n\tdb.Query(q)\n}\n",
        "go.sql-injection",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\tdb.Query(\"SELECT a FROM t WHERE b = $1\", r.FormValue(\"b\"))\n}\n",
        "",
    ),
    (
        "a.go",
        "func f() {\n\tdb.QueryContext(ctx, \"SELECT a FROM t WHERE b = '\" + b + \"'\")\n}\n",
        "go.sql-injection.context",
    ),
    (
        "a.go",
        "func f() {\n\tdb.QueryContext(ctx, \"SELECT a FROM t WHERE b = $1\", b)\n}\n",
        "",
    ),
    (
        "a.go",
        "func f(x string) {\n\texec.Command(\"sh\", \"-c\", \"tar \"+x).Run()\n}\n",
        "go.command-injection.shell",
    ),
    (
        "a.go",
        "func f(x string) {\n\texec.Command(\"tar\", \"czf\", \"--\", x).Run()\n}\n",
        "",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\texec.Command(r.FormValue(\"p\")).Run()\n}\n",
        "go.command-injection.program",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\tos.Open(filepath.Join(base, r.URL.Query().Get(\"n\")))\n}\n",
        "go.path-traversal",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\tos.Open(filepath.Join(base, filepath.Base(r.URL.Query().Get(\"n\"))))\n}\n",
        "",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\thttp.Get(r.URL.Query().Get(\"u\"))\n}\n",
        "go.ssrf",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\thttp.Get(\"https://example.com/\")\n}\n",
        "",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\tfmt.Fprintf(w, \"<p>%s</p>\", r.FormValue(\"n\"))\n}\n",
        "go.xss.response",
    ),
    (
        "a.go",
        "func f(w http.ResponseWriter, r *http.Request) {\n\tfmt.Fprintf(w, \"<p>%s</p>\", html.EscapeString(r.FormValue(\"n\")))\n}\n",
        "",
    ),
    (
        "a.go",
        "func f(b string) {\n\tx := template.HTML(\"<b>\" + b)\n}\n",
        "go.xss.template-html",
    ),
    (
        "a.go",
        "func f() {\n\tx := template.HTML(\"<b>static</b>\")\n}\n",
        "",
    ),
    ("a.go", "s := md5.Sum(b)\n", "go.weak-hash"),
    ("a.go", "s := sha256.Sum256(b)\n", ""),
    ("a.go", "c, _ := des.NewCipher(k)\n", "go.weak-crypto"),
    ("a.go", "c, _ := aes.NewCipher(k)\n", ""),
    (
        "a.go",
        "c := &tls.Config{InsecureSkipVerify: true}\n",
        "go.insecure-tls",
    ),
    ("a.go", "c := &tls.Config{InsecureSkipVerify: false}\n", ""),
    (
        "a.go",
        "c := &tls.Config{MinVersion: tls.VersionTLS11}\n",
        "go.weak-tls-version",
    ),
    (
        "a.go",
        "c := &tls.Config{MinVersion: tls.VersionTLS12}\n",
        "",
    ),
    (
        "a.go",
        "import mrand \"math/rand\"\nfunc SessionID() int {\n\treturn mrand.Int()\n}\n",
        "go.insecure-random",
    ),
    (
        "a.go",
        "import \"crypto/rand\"\nfunc SessionID() {\n\trand.Read(b)\n}\n",
        "",
    ),
    // ---- java
    (
        "A.java",
        "class A {\n  ResultSet f(String n) throws Exception {\n    return st.executeQuery(\"SELECT * FROM u WHERE n = '\" + n + \"'\");\n  }\n}\n",
        "java.sql-injection",
    ),
    (
        "A.java",
        "class A {\n  ResultSet f(String n) throws Exception {\n    return conn.prepareStatement(\"SELECT * FROM u WHERE n = ?\").executeQuery();\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  void f(String h) throws Exception {\n    Runtime.getRuntime().exec(\"ping \" + h);\n  }\n}\n",
        "java.command-injection.runtime-exec",
    ),
    (
        "A.java",
        "class A {\n  void f() throws Exception {\n    Runtime.getRuntime().exec(\"uptime\");\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  void f(String h) throws Exception {\n    new ProcessBuilder(\"sh\", \"-c\", \"ping \" + h).start();\n  }\n}\n",
        "java.command-injection.shell",
    ),
    (
        "A.java",
        "class A {\n  void f(String h) throws Exception {\n    new ProcessBuilder(\"ping\", h).start();\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  void f(HttpServletRequest req) {\n    File f = new File(\"/x\", req.getParameter(\"n\"));\n  }\n}\n",
        "java.path-traversal",
    ),
    (
        "A.java",
        "class A {\n  void f(HttpServletRequest req) {\n    Path p = BASE.resolve(req.getParameter(\"n\")).normalize();\n    if (!p.startsWith(BASE)) throw new SecurityException();\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  void f(HttpServletRequest req) throws Exception {\n    new URL(req.getParameter(\"u\")).openStream();\n  }\n}\n",
        "java.ssrf",
    ),
    (
        "A.java",
        "class A {\n  void f(HttpServletRequest req) throws Exception {\n    new URL(\"https://example.com\").openStream();\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  void f(HttpServletRequest req, HttpServletResponse r) throws Exception {\n    r.getWriter().println(\"<p>\" + req.getParameter(\"n\"));\n  }\n}\n",
        "java.xss.writer",
    ),
    (
        "A.java",
        "class A {\n  void f(HttpServletRequest req, HttpServletResponse r) throws Exception {\n    r.getWriter().println(\"<p>\" + Encode.forHtml(req.getParameter(\"n\")));\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  @GetMapping(\"/p\")\n  String p(@RequestParam(\"u\") String url) throws Exception {\n    return new URL(url).openStream().toString();\n  }\n}\n",
        "java.ssrf",
    ),
    (
        "A.java",
        "class A {\n  String p(String url) throws Exception {\n    return new URL(url).openStream().toString();\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "Object o = new ObjectInputStream(in).readObject();\n",
        "java.insecure-deserialization",
    ),
    (
        "A.java",
        "Order o = new ObjectMapper().readValue(json, Order.class);\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  void f() {\n    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();\n  }\n}\n",
        "java.xxe",
    ),
    (
        "A.java",
        "class A {\n  void f() {\n    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();\n    f.setFeature(\"http://apache.org/xml/features/disallow-doctype-decl\", true);\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "byte[] d = MessageDigest.getInstance(\"SHA-1\").digest(pw);\n",
        "java.weak-hash",
    ),
    (
        "A.java",
        "byte[] d = MessageDigest.getInstance(\"SHA-256\").digest(b);\n",
        "",
    ),
    (
        "A.java",
        "Cipher c = Cipher.getInstance(\"AES\");\n",
        "java.weak-crypto",
    ),
    (
        "A.java",
        "Cipher c = Cipher.getInstance(\"AES/GCM/NoPadding\");\n",
        "",
    ),
    (
        "A.java",
        "class A {\n  String resetToken() {\n    return Long.toHexString(new Random().nextLong());\n  }\n}\n",
        "java.insecure-random",
    ),
    (
        "A.java",
        "class A {\n  int jitter() {\n    return new Random().nextInt(100);\n  }\n}\n",
        "",
    ),
    (
        "A.java",
        "public void checkServerTrusted(X509Certificate[] c, String a) {}\n",
        "java.insecure-tls.trust-all",
    ),
    (
        "A.java",
        "public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException { delegate.checkServerTrusted(c, a); }\n",
        "",
    ),
    (
        "A.java",
        "HostnameVerifier any = (h, s) -> true;\n",
        "java.insecure-tls.hostname",
    ),
    (
        "A.java",
        "HostnameVerifier v = (h, s) -> h.equals(EXPECTED);\n",
        "",
    ),
    (
        "A.java",
        "SSLContext c = SSLContext.getInstance(\"TLSv1\");\n",
        "java.weak-tls-version",
    ),
    (
        "A.java",
        "SSLContext c = SSLContext.getInstance(\"TLS\");\n",
        "",
    ),
];
