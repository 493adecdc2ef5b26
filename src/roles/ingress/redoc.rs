//! `GET /v1/awe/redoc`: the OpenAPI document in ReDoc, served offline. The
//! standalone bundle (redoc 2.5.2, MIT, `assets/redoc/`) is part of the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const BUNDLE: &[u8] = include_bytes!("../../../assets/redoc/redoc.standalone.js");

pub async fn page() -> Html<&'static str> {
    Html(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>AWE API reference</title>\n<style>body { margin: 0; }</style>\n</head>\n<body>\n",
        "<redoc spec-url=\"/v1/awe/openapi.json\"></redoc>\n",
        "<script src=\"/v1/awe/redoc/redoc.standalone.js\"></script>\n</body>\n</html>\n",
    ))
}

pub async fn bundle() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")],
        BUNDLE,
    )
}
