//! Who may see the pages, and the headers every response carries.
//!
//! As Jupyter does: a random access token printed at start; the first visit brings it in the URL
//! (`/?token=…`), gets a session cookie (`HttpOnly`, `SameSite=Strict`) and is redirected to the
//! same URL without the token (so it stays out of history and `Referer`s). Every other request
//! needs that cookie. Tokens and sessions are compared in constant time (`subtle`). Each session
//! has a CSRF token that every form carries; a POST whose form token differs from its session's
//! is refused ([`Sessions::csrf_ok`]). When the server listens on a loopback address, a request
//! whose `Host` is not a loopback name is refused (a DNS-rebinding page gets no further than its
//! missing cookie, and not even that far).

use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

/// The cookie's name.
pub const COOKIE: &str = "kiln_ui_session";
/// Sessions kept at most (the oldest is dropped first).
const MAX_SESSIONS: usize = 64;

/// A random 256-bit value as 64 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random number generator");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// One browser session.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub csrf: String,
}

/// The open sessions.
#[derive(Default)]
pub struct Sessions(Mutex<Vec<Session>>);

impl Sessions {
    fn open(&self) -> Session {
        let s = Session { id: random_token(), csrf: random_token() };
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= MAX_SESSIONS {
            v.remove(0);
        }
        v.push(s.clone());
        s
    }

    /// The session whose id is `id` (every id compared, in constant time).
    fn find(&self, id: &str) -> Option<Session> {
        let v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        for s in v.iter() {
            if same(&s.id, id) {
                found = Some(s.clone());
            }
        }
        found
    }

    /// Whether `form_token` is `session`'s CSRF token.
    pub fn csrf_ok(session: &Session, form_token: &str) -> bool {
        same(&session.csrf, form_token)
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_string())
    })
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let name = if let Some(rest) = host.strip_prefix('[') { rest.split(']').next().unwrap_or("") } else { host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host) };
    matches!(name, "localhost" | "::1") || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Check the token or the session, then add the security headers.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if state.loopback_only && !host_is_loopback(req.headers()) {
        return secure(deny(StatusCode::FORBIDDEN, "This server answers requests to a loopback address only (its Host header names another)."));
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let given = url_params(&query).into_iter().find(|(k, _)| k == "token").map(|(_, v)| v);
    if let Some(t) = given {
        if !same(&t, &state.token) {
            return secure(deny(StatusCode::UNAUTHORIZED, "This access token is not the one this kiln ui printed."));
        }
        let session = state.sessions.open();
        let rest: Vec<String> = url_params(&query).into_iter().filter(|(k, _)| k != "token").map(|(k, v)| format!("{}={}", enc(&k), enc(&v))).collect();
        let location = if rest.is_empty() { req.uri().path().to_string() } else { format!("{}?{}", req.uri().path(), rest.join("&")) };
        let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
        let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", session.id);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return secure(r);
    }
    let Some(session) = cookie_value(req.headers()).and_then(|c| state.sessions.find(&c)) else {
        return secure(deny(StatusCode::UNAUTHORIZED, "Open the address `kiln ui` printed when it started (it ends in ?token=…)."));
    };
    req.extensions_mut().insert(session);
    secure(next.run(req).await)
}

fn deny(code: StatusCode, why: &str) -> Response {
    let body = crate::render::layout::page("Not allowed", crate::render::layout::Mode::Server, crate::render::layout::Nav::None, maud::html! { h1 { "Not allowed" } p { (why) } });
    (code, body).into_response()
}

/// The headers every response carries: a strict Content-Security-Policy (scripts and styles
/// from this server only, no inline script or style, no other origin, not framed), no MIME
/// sniffing, no referrer, no caching.
pub fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(h, "content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    }
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(h, "cache-control", "no-store");
    r
}

/// `k=v&…` decoded (form_urlencoded: `+` and `%xx`).
pub fn url_params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A query value encoded (form_urlencoded).
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_sessions_and_query_strings() {
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &t[..63]));
        let s = Sessions::default();
        let a = s.open();
        assert_eq!(s.find(&a.id).unwrap().csrf, a.csrf);
        assert!(s.find(&random_token()).is_none());
        assert!(Sessions::csrf_ok(&a, &a.csrf) && !Sessions::csrf_ok(&a, ""));
        for _ in 0..MAX_SESSIONS {
            s.open();
        }
        assert!(s.find(&a.id).is_none(), "the oldest session is dropped");
        assert_eq!(url_params("token=ab%2Fc&q=a+b&x"), vec![("token".into(), "ab/c".into()), ("q".into(), "a b".into()), ("x".into(), "".into())]);
        assert_eq!(url_params("q=%zz%4"), vec![("q".into(), "%zz%4".into())]);
        assert_eq!(enc("a b/é&"), "a+b%2F%C3%A9%26");
    }
}
