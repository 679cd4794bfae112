//! The few things of the JavaScript runtime the shell needs: environment variables, the
//! clock, timers, random ids and `EdgeRuntime.waitUntil`.

use std::future::Future;
use std::task::Poll;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["Deno", "env"], js_name = get)]
    fn deno_env_get(name: &str) -> Option<String>;

    #[wasm_bindgen(js_namespace = EdgeRuntime, js_name = waitUntil)]
    fn edge_runtime_wait_until(promise: &Promise) -> Promise;

    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;

    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, ms: f64) -> JsValue;
}

/// A variable of the function's environment (`Deno.env.get`).
pub fn env_var(name: &str) -> Option<String> {
    deno_env_get(name)
}

/// The wall clock, epoch milliseconds.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A fresh random UUID (`crypto.randomUUID`), e.g. for request and run ids.
pub fn new_id() -> String {
    random_uuid()
}

/// Keeps `work` running after the answer is sent (`EdgeRuntime.waitUntil`). The runtime's
/// wall clock still bounds it; a failure in it is the work's own to log.
pub fn wait_until(work: impl Future<Output = ()> + 'static) {
    let promise = future_to_promise(async move {
        work.await;
        Ok(JsValue::UNDEFINED)
    });
    let _ = edge_runtime_wait_until(&promise);
}

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: u64) {
    let promise = Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms as f64);
    });
    let _ = JsFuture::from(promise).await;
}

/// `work`'s output, or `None` when it has not finished within `ms` milliseconds (`work` is
/// then dropped).
pub async fn within<T>(ms: u64, work: impl Future<Output = T>) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let mut timer = std::pin::pin!(sleep(ms));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// A random 64-bit number (`Math.random`), e.g. to jitter a backoff; not for secrets.
pub fn random_seed() -> u64 {
    (js_sys::Math::random() * u64::MAX as f64) as u64
}
