//! Building the provider's HTTP requests as plain data.
//!
//! An [`HttpRequest`] is what a shell needs to call `fetch`: method, URL, headers and body.
//! Nothing here sends anything, reads a clock or knows about timeouts; reading the answer is
//! [`super::response`]'s job.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::prompt::GenerateParams;

/// The provider endpoints this crate speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /api/v1/generate`: starts a task; charged, and not idempotent.
    Generate,
    /// `GET /api/v1/generate/record-info`: reads a task; free and safe to repeat.
    RecordInfo,
    /// `GET /api/v1/generate/credit`: remaining credits; the health probe.
    Credit,
}

impl Endpoint {
    /// The path below the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Generate => "/api/v1/generate",
            Endpoint::RecordInfo => "/api/v1/generate/record-info",
            Endpoint::Credit => "/api/v1/generate/credit",
        }
    }

    /// Whether sending twice could do something twice (and charge twice).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Endpoint::Generate)
    }
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request ready to be sent. `Debug` and `Serialize` (for logs) hide the key.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct HttpRequest {
    /// Which endpoint this is, so the answer can be parsed and classified accordingly.
    pub endpoint: Endpoint,
    /// `GET` or `POST`.
    pub method: Method,
    /// The full URL: base URL, path and query.
    pub url: String,
    /// Path and query only, e.g. `/api/v1/generate/record-info?taskId=abc`, for logs.
    pub path: String,
    /// Header names and values, in sending order.
    #[serde(serialize_with = "serialize_masked")]
    pub headers: Vec<(String, String)>,
    /// The JSON body, for `POST`.
    pub body: Option<String>,
}

/// The headers as they may be shown: the key replaced by `***`.
fn masked(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if name.eq_ignore_ascii_case("authorization") {
                "Bearer ***"
            } else {
                value
            };
            (name.as_str(), shown)
        })
        .collect()
}

fn serialize_masked<S: serde::Serializer>(
    headers: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    masked(headers).serialize(serializer)
}

impl HttpRequest {
    /// What this request carries that must never be written down: the key, and for a submit
    /// the callback URL's token. A provider error page may echo them back, and error texts
    /// end up in logs, events and the stored status (see [`super::Reply::without`]).
    pub fn secrets(&self) -> Vec<String> {
        let key = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .filter_map(|(_, value)| value.strip_prefix("Bearer "))
            .map(str::to_owned);
        let body: Option<serde_json::Value> = self
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str(body).ok());
        let token = body
            .as_ref()
            .and_then(|body| body["callBackUrl"].as_str())
            .and_then(|url| url.split_once('?'))
            .and_then(|(_, query)| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("token="))
                    .map(str::to_owned)
            });
        key.chain(token)
            .filter(|secret| !secret.is_empty())
            .collect()
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = masked(&self.headers);
        f.debug_struct("HttpRequest")
            .field("endpoint", &self.endpoint)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

/// The provider's address and key; builds every request. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SunoApi {
    base_url: String,
    api_key: String,
}

/// The generate body as the provider spells it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateBody<'a> {
    custom_mode: bool,
    instrumental: bool,
    model: crate::model::Model,
    call_back_url: &'a str,
    prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    style: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

impl SunoApi {
    /// `base_url` like `https://api.sunoapi.org` (a trailing `/` is ignored).
    pub fn new(base_url: &str, api_key: &str) -> SunoApi {
        SunoApi {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            api_key: api_key.trim().to_owned(),
        }
    }

    /// The base URL without trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /api/v1/generate`. `callback_url` is where the provider reports progress.
    pub fn generate(&self, params: &GenerateParams, callback_url: &str) -> HttpRequest {
        let body = GenerateBody {
            custom_mode: params.custom_mode,
            instrumental: params.instrumental,
            model: params.model,
            call_back_url: callback_url,
            prompt: &params.prompt,
            // Style and title are only meaningful in custom mode; the provider may reject them
            // otherwise.
            style: params.style.as_deref().filter(|_| params.custom_mode),
            title: params.title.as_deref().filter(|_| params.custom_mode),
        };
        let json = serde_json::to_string(&body).expect("a struct of strings and bools serializes");
        self.request(Endpoint::Generate, Method::Post, String::new(), Some(json))
    }

    /// `GET /api/v1/generate/record-info?taskId=…`.
    pub fn record_info(&self, task_id: &str) -> HttpRequest {
        let query = format!("?taskId={}", percent_encode(task_id));
        self.request(Endpoint::RecordInfo, Method::Get, query, None)
    }

    /// `GET /api/v1/generate/credit`.
    pub fn credit(&self) -> HttpRequest {
        self.request(Endpoint::Credit, Method::Get, String::new(), None)
    }

    fn request(
        &self,
        endpoint: Endpoint,
        method: Method,
        query: String,
        body: Option<String>,
    ) -> HttpRequest {
        let path = format!("{}{query}", endpoint.path());
        let mut headers = vec![
            (
                "Authorization".to_owned(),
                format!("Bearer {}", self.api_key),
            ),
            ("Accept".to_owned(), "application/json".to_owned()),
        ];
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        HttpRequest {
            endpoint,
            method,
            url: format!("{}{path}", self.base_url),
            path,
            headers,
            body,
        }
    }
}

impl fmt::Debug for SunoApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SunoApi")
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .finish()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use serde_json::{json, Value};

    fn api() -> SunoApi {
        SunoApi::new("https://api.sunoapi.org/", "sk-test")
    }

    #[test]
    fn a_requests_secrets_are_its_key_and_its_callback_token() {
        let params = GenerateParams {
            model: Model::V4,
            custom_mode: false,
            instrumental: false,
            prompt: "calm, token=not-this-one".into(),
            style: None,
            title: None,
        };
        let url =
            "https://p.example/functions/v1/music-queue-worker/callback?request_id=r&token=abc123";
        assert_eq!(
            api().generate(&params, url).secrets(),
            ["sk-test", "abc123"]
        );
        assert_eq!(api().credit().secrets(), ["sk-test"]);
        assert_eq!(api().record_info("t").secrets(), ["sk-test"]);
        assert!(SunoApi::new("https://x", "").credit().secrets().is_empty());
    }

    fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn generate_sends_the_documented_body() {
        let params = GenerateParams {
            model: Model::V4_5,
            custom_mode: true,
            instrumental: true,
            prompt: "calm piano".into(),
            style: Some("ambient".into()),
            title: Some("Still".into()),
        };
        let request = api().generate(&params, "https://x.supabase.co/functions/v1/cb?r=1");
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.url, "https://api.sunoapi.org/api/v1/generate");
        assert_eq!(request.path, "/api/v1/generate");
        assert_eq!(header(&request, "authorization"), Some("Bearer sk-test"));
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "customMode": true, "instrumental": true, "model": "V4_5",
                "callBackUrl": "https://x.supabase.co/functions/v1/cb?r=1",
                "prompt": "calm piano", "style": "ambient", "title": "Still"
            })
        );
    }

    #[test]
    fn non_custom_generate_leaves_style_and_title_out() {
        let params = GenerateParams {
            model: Model::V4,
            custom_mode: false,
            instrumental: false,
            prompt: "a happy song".into(),
            style: Some("ignored".into()),
            title: None,
        };
        let body: Value =
            serde_json::from_str(api().generate(&params, "cb").body.as_deref().unwrap()).unwrap();
        assert_eq!(body.get("style"), None);
        assert_eq!(body.get("title"), None);
        assert_eq!(body["customMode"], false);
    }

    #[test]
    fn record_info_encodes_the_task_id() {
        let request = api().record_info("ab c&d");
        assert_eq!(request.method, Method::Get);
        assert_eq!(
            request.path,
            "/api/v1/generate/record-info?taskId=ab%20c%26d"
        );
        assert_eq!(request.body, None);
        assert_eq!(header(&request, "content-type"), None);
    }

    #[test]
    fn credit_targets_the_credit_endpoint() {
        let request = api().credit();
        assert_eq!(
            request.url,
            "https://api.sunoapi.org/api/v1/generate/credit"
        );
        assert_eq!(request.endpoint, Endpoint::Credit);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let shown = format!("{:?} {:?}", api(), api().credit());
        assert!(!shown.contains("sk-test"), "{shown}");
    }

    #[test]
    fn serialized_requests_carry_no_key() {
        let params = GenerateParams {
            prompt: "calm piano".into(),
            style: None,
            title: None,
            custom_mode: false,
            instrumental: true,
            model: crate::model::Model::V4_5,
        };
        for request in [api().credit(), api().generate(&params, "https://cb")] {
            let json = serde_json::to_string(&request).unwrap();
            assert!(!json.contains("sk-test"), "{json}");
            assert!(json.contains("Bearer ***"), "{json}");
        }
    }
}
