//! Header handling as an HTTP intermediary must do it (RFC 9110 §7.6, RFC 9112 §3.2.2, RFC 9113
//! §8.2, RFC 7239).
//!
//! Requests going upstream:
//! - hop-by-hop fields are removed: `Connection` and every field it names, `Keep-Alive`, `TE`,
//!   `Trailer`, `Transfer-Encoding`, `Upgrade`, and `Proxy` plus every `Proxy-*` field (which also
//!   keeps a client's `Proxy:` header from reaching a CGI-style upstream as `HTTP_PROXY`, the
//!   "httpoxy" attack). Upgrades (WebSocket, h2c) are therefore not proxied: the upstream sees
//!   the plain request.
//! - when the client sent `Transfer-Encoding`, `Content-Length` is removed too: the body is
//!   re-framed for the upstream, and a length that disagrees with it would let one request hide
//!   another (request smuggling).
//! - `Host` is kept as the client sent it. An absolute-form target or HTTP/2 `:authority` replaces
//!   it (RFC 9112 §3.2.2, RFC 9113 §8.3.1); a request with neither gets the instance's address.
//! - HTTP/2 `cookie` fields are joined into one with `; ` (RFC 9113 §8.2.3).
//! - the client's address is appended to `X-Forwarded-For` and `Forwarded` (`for=`, `host=`,
//!   `proto=http`); `X-Forwarded-Proto: http` and `X-Forwarded-Port` are set, as ALB does. Earlier
//!   entries are kept, so the last `X-Forwarded-For` entry is the only one the router vouches for.
//! - `Via` gets the router's entry; the request goes upstream as HTTP/1.1 in origin form.
//!
//! Responses: the same hop-by-hop removal (and `Content-Length` dropped when the upstream used
//! `Transfer-Encoding`), plus a `Via` entry.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};

/// Fields that are hop-by-hop whatever `Connection` says.
const HOP_BY_HOP: [HeaderName; 5] = [header::CONNECTION, header::TE, header::TRAILER, header::TRANSFER_ENCODING, header::UPGRADE];

/// The router's `Via` pseudonym.
const VIA_NAME: &str = "kiln-router";

/// Why the router refuses a request itself.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// CONNECT asks for a tunnel; a reverse proxy does not make one (405).
    Connect,
}

/// Where the client's connection came from and arrived.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientInfo {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// Removes hop-by-hop fields; returns whether the message had `Transfer-Encoding`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) -> bool {
    // Names listed in Connection (comma-separated tokens, possibly over several fields).
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    let had_te = headers.contains_key(header::TRANSFER_ENCODING);
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    let proxy: Vec<HeaderName> = headers.keys().filter(|k| k.as_str() == "proxy" || k.as_str().starts_with("proxy-")).cloned().collect();
    for name in proxy {
        headers.remove(name);
    }
    if had_te {
        headers.remove(header::CONTENT_LENGTH);
    }
    had_te
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Joins every value of `name` with `sep`, appends `extra` and stores the result as one field.
fn append_joined(headers: &mut HeaderMap, name: HeaderName, sep: &str, extra: &str) {
    let mut joined = String::new();
    for v in headers.get_all(&name) {
        if let Ok(s) = v.to_str() {
            let s = s.trim();
            if !s.is_empty() {
                joined.push_str(s);
                joined.push_str(sep);
            }
        }
    }
    joined.push_str(extra);
    if let Ok(v) = HeaderValue::from_str(&joined) {
        headers.insert(name, v);
    }
}

/// An RFC 7239 `node`: IPv4 as is, IPv6 bracketed and quoted.
fn forwarded_node(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("\"[{}]\"", a.ip()),
    }
}

/// A quoted-string (RFC 9110 §5.6.4) of a visible-ASCII value.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Rewrites a client's request head for the upstream (see the module docs).
pub(crate) fn upstream_request(parts: &mut http::request::Parts, client: &ClientInfo) -> Result<(), Refusal> {
    if parts.method == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    let client_version = parts.version;
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);

    // Host: an absolute-form target's or HTTP/2 :authority's authority wins over the field.
    if let Some(authority) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, v);
    }
    let target = match parts.uri.path_and_query() {
        Some(pq) => pq.as_str().to_string(),
        None => "/".to_string(),
    };
    // A path-and-query taken from a valid URI is a valid origin-form target.
    if let Ok(uri) = target.parse::<Uri>() {
        parts.uri = uri;
    }

    if client_version == Version::HTTP_2 && headers.get_all(header::COOKIE).iter().count() > 1 {
        let crumbs: Vec<String> = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
        if let Ok(v) = HeaderValue::from_str(&crumbs.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }

    let ip = client.peer.ip().to_string();
    append_joined(headers, HeaderName::from_static("x-forwarded-for"), ", ", &ip);
    headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static("http"));
    headers.insert(HeaderName::from_static("x-forwarded-port"), HeaderValue::from(client.local.port()));
    let mut element = format!("for={}", forwarded_node(&client.peer));
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        element.push_str(";host=");
        element.push_str(&quoted(host));
    }
    element.push_str(";proto=http");
    append_joined(headers, header::FORWARDED, ", ", &element);
    append_joined(headers, header::VIA, ", ", &format!("{} {VIA_NAME}", protocol(client_version)));
    parts.version = Version::HTTP_11;
    Ok(())
}

/// Rewrites an upstream's response head for the client.
pub(crate) fn downstream_response(parts: &mut http::response::Parts) {
    strip_hop_by_hop(&mut parts.headers);
    append_joined(&mut parts.headers, header::VIA, ", ", &format!("1.1 {VIA_NAME}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientInfo {
        ClientInfo { peer: "10.1.2.3:5555".parse().unwrap(), local: "127.0.0.1:8080".parse().unwrap() }
    }

    fn request(build: http::request::Builder) -> http::request::Parts {
        build.body(()).unwrap().into_parts().0
    }

    #[test]
    fn hop_by_hop_fields_and_the_ones_connection_names_are_removed() {
        let mut p = request(
            http::Request::get("/a?b=1")
                .header("connection", "keep-alive, X-Secret-Hop")
                .header("connection", "Upgrade")
                .header("x-secret-hop", "1")
                .header("keep-alive", "timeout=5")
                .header("te", "trailers")
                .header("trailer", "x-t")
                .header("upgrade", "websocket")
                .header("proxy", "http://evil.example")
                .header("proxy-authorization", "Basic Zm9vOmJhcg==")
                .header("proxy-connection", "keep-alive")
                .header("host", "app.example:8080")
                .header("x-keep", "yes"),
        );
        upstream_request(&mut p, &client()).unwrap();
        for gone in ["connection", "x-secret-hop", "keep-alive", "te", "trailer", "upgrade", "proxy", "proxy-authorization", "proxy-connection"] {
            assert!(!p.headers.contains_key(gone), "{gone} was kept");
        }
        assert_eq!(p.headers["x-keep"], "yes");
        assert_eq!(p.headers["host"], "app.example:8080");
        assert_eq!(p.uri, "/a?b=1");
        assert_eq!(p.version, Version::HTTP_11);
    }

    #[test]
    fn chunked_requests_lose_their_content_length() {
        let mut p = request(http::Request::post("/").header("transfer-encoding", "chunked").header("content-length", "5"));
        upstream_request(&mut p, &client()).unwrap();
        assert!(!p.headers.contains_key("content-length"));
        assert!(!p.headers.contains_key("transfer-encoding"));
        let mut p = request(http::Request::post("/").header("content-length", "5"));
        upstream_request(&mut p, &client()).unwrap();
        assert_eq!(p.headers["content-length"], "5");
    }

    #[test]
    fn forwarding_fields_are_appended() {
        let mut p = request(
            http::Request::get("/")
                .header("host", "svc")
                .header("x-forwarded-for", "192.0.2.1")
                .header("x-forwarded-for", "192.0.2.2")
                .header("forwarded", "for=192.0.2.1")
                .header("via", "1.1 edge")
                .header("x-forwarded-proto", "https"),
        );
        upstream_request(&mut p, &client()).unwrap();
        assert_eq!(p.headers["x-forwarded-for"], "192.0.2.1, 192.0.2.2, 10.1.2.3");
        assert_eq!(p.headers.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(p.headers["forwarded"], "for=192.0.2.1, for=10.1.2.3;host=\"svc\";proto=http");
        assert_eq!(p.headers["via"], "1.1 edge, 1.1 kiln-router");
        assert_eq!(p.headers["x-forwarded-proto"], "http");
        assert_eq!(p.headers["x-forwarded-port"], "8080");
    }

    #[test]
    fn ipv6_clients_are_quoted_in_forwarded() {
        let c = ClientInfo { peer: "[::1]:4000".parse().unwrap(), local: "[::1]:80".parse().unwrap() };
        let mut p = request(http::Request::get("/").header("host", "a\"b"));
        upstream_request(&mut p, &c).unwrap();
        assert_eq!(p.headers["forwarded"], "for=\"[::1]\";host=\"a\\\"b\";proto=http");
        assert_eq!(p.headers["x-forwarded-for"], "::1");
    }

    #[test]
    fn http2_authority_becomes_host_and_cookies_are_joined() {
        let mut p = request(
            http::Request::get("http://shop.example:9000/cart?x=1").version(Version::HTTP_2).header("cookie", "a=1").header("cookie", "b=2"),
        );
        upstream_request(&mut p, &client()).unwrap();
        assert_eq!(p.headers["host"], "shop.example:9000");
        assert_eq!(p.headers["cookie"], "a=1; b=2");
        assert_eq!(p.uri, "/cart?x=1");
        assert_eq!(p.headers["via"], "2 kiln-router");
    }

    #[test]
    fn absolute_form_replaces_host() {
        let mut p = request(http::Request::get("http://real.example/x").header("host", "spoofed.example"));
        upstream_request(&mut p, &client()).unwrap();
        assert_eq!(p.headers["host"], "real.example");
        assert_eq!(p.uri, "/x");
    }

    #[test]
    fn connect_is_refused() {
        let mut p = request(http::Request::builder().method(Method::CONNECT).uri("example.com:443"));
        assert_eq!(upstream_request(&mut p, &client()), Err(Refusal::Connect));
    }

    #[test]
    fn responses_lose_hop_by_hop_fields() {
        let (mut parts, _) = http::Response::builder()
            .header("connection", "close, x-internal")
            .header("x-internal", "1")
            .header("transfer-encoding", "chunked")
            .header("content-length", "10")
            .header("keep-alive", "timeout=5")
            .header("content-type", "text/plain")
            .body(())
            .unwrap()
            .into_parts();
        downstream_response(&mut parts);
        let names: Vec<&str> = parts.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "via"]);
    }
}
