//! Limits that protect the ingress: the size of a request's target and
//! headers (431 beyond `http.max_header_bytes`), and a per-client rate limit,
//! a token bucket per bearer token's subject (or per token when it has none),
//! answering 429 with `Retry-After` when empty (off unless
//! `http.rate_limit_per_second` is set).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;

/// Buckets kept at most; idle ones are dropped beyond it.
const MAX_CLIENTS: usize = 100_000;

pub struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(rate_per_second: f64, burst: u32) -> Arc<Self> {
        Arc::new(Self { rate: rate_per_second, burst: f64::from(burst.max(1)), buckets: Mutex::new(HashMap::new()) })
    }

    /// `None` when the call may go ahead, else the seconds to wait.
    pub fn take(&self, client: &str) -> Option<u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_CLIENTS {
            let burst = self.burst;
            buckets.retain(|_, (tokens, _)| *tokens < burst);
        }
        let (tokens, last) = buckets.entry(client.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// The client a request counts against: the token's `sub`, read without
/// verification (authentication happens in the handler; this only buckets).
fn client_of(request: &Request) -> String {
    let token = request.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or("anonymous");
    let sub = token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_owned));
    sub.unwrap_or_else(|| token.to_owned())
}

pub async fn limit(State(limiter): State<Arc<Limiter>>, request: Request, next: Next) -> Response {
    match limiter.take(&client_of(&request)) {
        None => next.run(request).await,
        Some(wait) => {
            let body = crate::contract::error::envelope_error(
                "AWE-429",
                "Too many requests from this client; retry after the given seconds",
            );
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// Bytes a request's target and headers take, as sent (`name: value\r\n`).
fn head_size(request: &Request) -> usize {
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>() + target
}

/// Refuses a request whose target and headers exceed `max` bytes.
pub async fn header_size(State(max): State<usize>, request: Request, next: Next) -> Response {
    let size = head_size(&request);
    if size <= max {
        return next.run(request).await;
    }
    let message = format!("The request's target and headers take {size} bytes; at most {max} are accepted");
    let body = crate::contract::error::envelope_error("AWE-431", &message);
    (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_asks_to_wait() {
        let limiter = Limiter::new(1.0, 2);
        assert_eq!((limiter.take("a"), limiter.take("a")), (None, None));
        assert_eq!(limiter.take("a"), Some(1));
        assert_eq!(limiter.take("b"), None, "clients have their own buckets");
    }
}
