//! Logs: one JSON object per line on stdout, each with the request id, so a platform log
//! search finds a whole request. Never pass a key: callers log facts (status, ms, codes).

use serde_json::{json, Map, Value};

/// The logger of one request.
#[derive(Debug, Clone)]
pub struct Log {
    request_id: String,
    function: &'static str,
}

impl Log {
    /// A logger for `function` handling `request_id`.
    pub fn new(function: &'static str, request_id: impl Into<String>) -> Log {
        Log {
            request_id: request_id.into(),
            function,
        }
    }

    /// The request id every line carries.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// An `info` line: `event` and the fields of `fields` (a JSON object).
    pub fn info(&self, event: &str, fields: Value) {
        self.line("info", event, fields);
    }

    /// A `warn` line: something failed that the function handled.
    pub fn warn(&self, event: &str, fields: Value) {
        self.line("warn", event, fields);
    }

    /// An `error` line: the request failed.
    pub fn error(&self, event: &str, fields: Value) {
        self.line("error", event, fields);
    }

    fn line(&self, level: &str, event: &str, fields: Value) {
        let mut line = Map::new();
        line.insert("level".into(), json!(level));
        line.insert("function".into(), json!(self.function));
        line.insert("request_id".into(), json!(self.request_id));
        line.insert("event".into(), json!(event));
        if let Value::Object(extra) = fields {
            line.extend(extra);
        }
        print_line(&Value::Object(line).to_string());
    }
}

#[cfg(target_arch = "wasm32")]
fn print_line(line: &str) {
    web_log(line);
}

#[cfg(not(target_arch = "wasm32"))]
fn print_line(line: &str) {
    println!("{line}");
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn web_log(line: &str);
}
