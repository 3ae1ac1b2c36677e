//! Unit tests of the scope analysis (statement, function, taint, dynamic).
use super::*;
use crate::lexer::lex;

fn src(lang: Language, t: &str) -> (Lexed, Language) {
    (lex(lang, t), lang)
}

#[test]
fn python_function_scope_and_taint_through_assignment() {
    let t = "def a():\n    x = 1\n\ndef b():\n    name = request.args['n']\n    safe = safe_join(B, name)\n    open(name)\n    open(safe)\n";
    let (lx, lang) = src(Language::Python, t);
    let s = Source::new(lang, &lx);
    let pos = t.find("open(name)").unwrap();
    let (hdr, body) = s.function(pos);
    assert!(s.text()[hdr].contains("def b"));
    let tainted = s.tainted_vars(&body, pos);
    assert!(tainted.contains("name"));
    assert!(!tainted.contains("safe"));
}

#[test]
fn dynamic_detection() {
    let t = "cur.execute(\"SELECT 1 WHERE a = ?\", (a,))\ncur.execute(f\"SELECT {a}\")\nq = \"SELECT \" + a\ncur.execute(q)\ncur.execute(\"x %s\" % TABLE)\n";
    let (lx, lang) = src(Language::Python, t);
    let s = Source::new(lang, &lx);
    let all = 0..t.len();
    let dyn_at = |needle: &str| {
        let p = t.find(needle).unwrap() + "cur.execute(".len();
        let st = s.statement(p);
        let args = s.args(p, &st);
        s.is_dynamic(&s.first_arg(&args), &all, 2)
    };
    assert!(!dyn_at("cur.execute(\"SELECT 1"));
    assert!(dyn_at("cur.execute(f"));
    assert!(dyn_at("cur.execute(q"));
    assert!(!dyn_at("cur.execute(\"x"));
}

#[test]
fn brace_function_scope_and_js_destructuring() {
    let t = "function a() {\n  const { id, q: term } = req.query;\n  db.query(term);\n}\nfunction b() { db.query(term); }\n";
    let (lx, lang) = src(Language::JavaScript, t);
    let s = Source::new(lang, &lx);
    let pos = t.find("db.query(term)").unwrap();
    let (_, body) = s.function(pos);
    let tainted = s.tainted_vars(&body, pos);
    assert!(
        tainted.contains("term") && tainted.contains("id"),
        "{tainted:?}"
    );
    let pos2 = t.rfind("db.query").unwrap();
    let (hdr2, _) = s.function(pos2);
    assert!(s.text()[hdr2].contains("function b"));
}

#[test]
fn allowlist_validation_makes_variable_constant() {
    let t = "def c(table):\n    if table not in TABLES:\n        return\n    cur.execute(\"SELECT %s\" % table)\n";
    let (lx, lang) = src(Language::Python, t);
    let s = Source::new(lang, &lx);
    let p = t.find("execute(").unwrap() + 8;
    let (_, body) = s.function(p);
    let st = s.statement(p);
    assert!(!s.is_dynamic(&s.first_arg(&s.args(p, &st)), &body, 2));
}

#[test]
fn annotated_java_parameters_and_flask_route_placeholders_are_tainted() {
    let t = "class A {\n  String p(@RequestParam(\"u\") String url) throws Exception {\n    return new URL(url).openStream().toString();\n  }\n}\n";
    let lx = lex(Language::Java, t);
    let s = Source::new(Language::Java, &lx);
    let pos = t.find("new URL").unwrap();
    let (hdr, body) = s.function(pos);
    assert!(
        s.text()[hdr].contains("String p("),
        "{:?}",
        &s.text()[body.clone()]
    );
    assert!(s.tainted_vars(&body, pos).contains("url"));
    let p = "@bp.get(\"/f/<path:name>\")\ndef f(name, other):\n    open(name)\n";
    let lx = lex(Language::Python, p);
    let s = Source::new(Language::Python, &lx);
    let pos = p.find("open(").unwrap();
    let (_, body) = s.function(pos);
    let t = s.tainted_vars(&body, pos);
    assert!(t.contains("name") && !t.contains("other"), "{t:?}");
}
