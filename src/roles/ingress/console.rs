//! The operator console: the built single-page app embedded at compile time
//! (`build.rs`), served under `/v1/awe/admin/-/` so that no page of it can
//! shadow an API path under `/v1/awe/admin` (the reserved `-` segment, as
//! GitLab reserves it). Hashed assets are cached for a year, `index.html` is
//! never cached, and every answer carries a strict Content-Security-Policy.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// Where the console lives.
pub const BASE: &str = "/v1/awe/admin/-/";

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>AWE console not built</title></head>\
<body><h1>The operator console is not part of this build</h1>\
<p>This binary was compiled without <code>console/dist</code>. Build the console, then the binary:</p>\
<pre>cd console &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd .. &amp;&amp; cargo build --release --bin awe</pre>\
<p><code>scripts/up</code> and the Dockerfile do both. The API itself is unaffected: see <a href=\"/v1/awe/docs\">/v1/awe/docs</a>.</p>\
</body></html>";

fn asset(name: &str) -> Option<&'static [u8]> {
    assets::ASSETS.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// A file as this browser takes it: the build's gzip copy (`name.gz`, made by
/// `console/scripts/compress.mjs`) when it accepts gzip and there is one.
fn negotiated(name: &str, request: &HeaderMap) -> Option<(&'static [u8], bool)> {
    let plain = asset(name)?;
    if accepts_gzip(request) {
        if let Some(gz) = asset(&format!("{name}.gz")) {
            return Some((gz, true));
        }
    }
    Some((plain, false))
}

/// `Accept-Encoding` names gzip (or `*`) without `q=0`.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused =
                parts.any(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        },
    )
}

fn mime(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The policy: scripts and styles from the service only; the browser may
/// talk to the service and to the Keycloak issuer (tokens, refresh).
pub fn content_security_policy(issuer: &str) -> String {
    let idp = origin(issuer).map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'{idp}; form-action 'self'{idp}; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )
}

/// `https://kc.example.org` of `https://kc.example.org/realms/staff`.
fn origin(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

fn answer(
    s: &AppState,
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    (body, gzip): (&'static [u8], bool),
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // The answer depends on Accept-Encoding wherever a gzip copy could exist.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&s.config.keycloak.issuer)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

fn index(s: &AppState, request: &HeaderMap) -> Response {
    match negotiated("index.html", request) {
        Some(page) => answer(s, StatusCode::OK, mime("index.html"), "no-cache", page),
        None => answer(s, StatusCode::OK, mime("index.html"), "no-cache", (NOT_BUILT.as_bytes(), false)),
    }
}

/// `/v1/awe/admin` and `/v1/awe/admin/`: the console's front door.
pub async fn front_door() -> Redirect {
    Redirect::permanent(BASE)
}

/// `/v1/awe/admin/-/`.
pub async fn root(State(s): State<Arc<AppState>>, request: HeaderMap) -> Response {
    index(&s, &request)
}

/// A file of the build, or `index.html` for a page of the app (deep links
/// survive a reload). A missing asset is a 404, never the page.
pub async fn file(State(s): State<Arc<AppState>>, Path(path): Path<String>, request: HeaderMap) -> Response {
    if let Some(body) = negotiated(&path, &request) {
        let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        return answer(&s, StatusCode::OK, mime(&path), cache, body);
    }
    if path.starts_with("assets/") || path.rsplit('/').next().is_some_and(|last| last.contains('.')) {
        return answer(&s, StatusCode::NOT_FOUND, mime("x.txt"), "no-cache", (b"Not Found", false));
    }
    index(&s, &request)
}

/// Whether this binary carries the console (for `/v1/awe/config`).
pub fn embedded() -> bool {
    asset("index.html").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_the_browser_reach_the_issuer_and_nothing_else_outside() {
        let csp = content_security_policy("https://kc.example.org/realms/staff");
        assert!(csp.contains("connect-src 'self' https://kc.example.org;"), "{csp}");
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(content_security_policy(""), content_security_policy("not a url"));
        assert!(content_security_policy("").contains("connect-src 'self';"));
    }

    #[test]
    fn gzip_is_chosen_only_when_the_browser_accepts_it() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).expect("header"));
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br, zstd"));
        assert!(!with("gzip;q=0, br"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn files_are_typed_by_their_extension() {
        assert_eq!(mime("assets/index-abc.js"), "text/javascript; charset=utf-8");
        assert_eq!(mime("index.html"), "text/html; charset=utf-8");
        assert_eq!(mime("LICENSE"), "application/octet-stream");
    }
}
