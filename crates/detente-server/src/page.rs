//! `GET /`: a status page for people, public, showing only what the node already publishes
//! (its log's checkpoint and key) and its own traffic counters. It refreshes itself.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use detente_store::Store;
use detente_tlog::{Checkpoint, Note};

use crate::App;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:56em;margin:2em auto;padding:0 1em;color:#1d2330}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #dde}\
table{border-collapse:collapse}td{padding:.2em 1.2em .2em 0;vertical-align:top}td:first-child{color:#667}\
code{font:13px ui-monospace,monospace;background:#f3f4f8;padding:.1em .3em;word-break:break-all}\
.muted{color:#667}";

/// `GET /`.
pub(crate) async fn index<S: Store>(State(app): State<Arc<App<S>>>) -> Response {
    let mut h = String::new();
    let title = esc(&app.config.title);
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width,initial-scale=1'>\
         <meta http-equiv=refresh content=5><title>{title}</title><style>{STYLE}</style></head><body>\
         <h1>{title}</h1><p class=muted>detente {} — a TAXII 2.1 threat-intelligence exchange node \
         with a public transparency log. TAXII discovery: <a href='/taxii2/'>/taxii2/</a> \
         (members only).</p>",
        env!("CARGO_PKG_VERSION")
    );
    h.push_str("<h2>Transparency log</h2>");
    let latest = app.config.log.as_ref().and_then(|l| l.prover.latest());
    match latest {
        None => h.push_str("<p>This node publishes no log yet.</p>"),
        Some(latest) => {
            let cp = Note::parse(&latest.note)
                .ok()
                .and_then(|n| Checkpoint::parse(n.text()).ok());
            let age = SystemTime::now()
                .duration_since(latest.at)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            h.push_str("<table>");
            if let Some(cp) = &cp {
                let _ = write!(
                    h,
                    "<tr><td>origin</td><td><code>{}</code></td></tr>\
                     <tr><td>entries</td><td>{}</td></tr>\
                     <tr><td>root</td><td><code>{}</code></td></tr>",
                    esc(&cp.origin),
                    cp.size,
                    esc(&cp.root.to_base64())
                );
            }
            let key = app
                .config
                .log
                .as_ref()
                .map(|l| esc(&l.verifier_key))
                .unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>checkpoint</td><td>published {age} s ago · \
                 <a href='/log/checkpoint'>/log/checkpoint</a></td></tr>\
                 <tr><td>verifier key</td><td><code>{key}</code></td></tr></table>\
                 <p>Audit it from anywhere: <code>detente verify --url URL-OF-THIS-PAGE --key {key}</code> \
                 (add <code>--collection ID</code> with your credentials to check every object you can read \
                 against its receipt).</p>"
            );
        }
    }
    if let Some(log) = &app.config.log {
        witnesses_table(&mut h, &log.witnesses.statuses());
    }
    let [requests, stored, dups, rejected] = app.metrics.totals();
    let _ = write!(
        h,
        "<h2>Since this node started</h2><table>\
         <tr><td>requests served</td><td>{requests}</td></tr>\
         <tr><td>object versions stored</td><td>{stored}</td></tr>\
         <tr><td>duplicates re-posted</td><td>{dups}</td></tr>\
         <tr><td>objects refused</td><td>{rejected}</td></tr></table></body></html>"
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        h,
    )
        .into_response()
}

/// The log's witnesses: each one's latest cosigned size, its age, and the last failure.
fn witnesses_table(h: &mut String, statuses: &[detente_sequencer::witnessing::WitnessStatus]) {
    if statuses.is_empty() {
        h.push_str(
            "<p>No witness cosigns this log yet (<code>detente log add-witness</code>).</p>",
        );
        return;
    }
    h.push_str("<h2>Witnesses of this log</h2><table>");
    for w in statuses {
        let size = w
            .cosigned_size
            .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        let age = w
            .cosigned_at
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or_else(
                || "never by this process".to_owned(),
                |d| format!("{} s ago", d.as_secs()),
            );
        let error = w
            .last_error
            .as_deref()
            .map(|e| format!(" · <span class=muted>last failure: {}</span>", esc(e)))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td><code>{}</code><br>{}</td><td>cosigned size {size} · {age}{error}</td></tr>",
            esc(&w.vkey),
            esc(&w.url)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
