//! Prometheus counters, rendered in the text exposition format on the metrics listener.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The node's counters.
#[derive(Default)]
pub struct Metrics {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    duration_micros: AtomicU64,
    requests: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).saturating_sub(1).min(4);
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.duration_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records the outcome of one ingest.
    pub fn ingested(&self, stored: u64, duplicates: u64, rejected: u64) {
        self.stored.fetch_add(stored, Ordering::Relaxed);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    /// Requests served, and object versions stored, duplicated and rejected, so far.
    pub fn totals(&self) -> [u64; 4] {
        [
            &self.requests,
            &self.stored,
            &self.duplicates,
            &self.rejected,
        ]
        .map(|a| a.load(Ordering::Relaxed))
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        s.push_str("# HELP detente_http_requests_total HTTP requests served, by status class.\n");
        s.push_str("# TYPE detente_http_requests_total counter\n");
        for (i, c) in self.by_class.iter().enumerate() {
            let _ = writeln!(
                s,
                "detente_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                get(c)
            );
        }
        s.push_str("# HELP detente_http_request_duration_seconds Time to answer a request.\n");
        s.push_str("# TYPE detente_http_request_duration_seconds histogram\n");
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                s,
                "detente_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                get(c)
            );
        }
        let n = get(&self.requests);
        let _ = writeln!(
            s,
            "detente_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {n}"
        );
        let sum = get(&self.duration_micros) as f64 / 1e6;
        let _ = writeln!(s, "detente_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(s, "detente_http_request_duration_seconds_count {n}");
        for (name, help, c) in [
            (
                "detente_objects_stored_total",
                "Object versions stored.",
                &self.stored,
            ),
            (
                "detente_objects_duplicate_total",
                "Re-posted object versions already stored.",
                &self.duplicates,
            ),
            (
                "detente_objects_rejected_total",
                "Posted objects refused.",
                &self.rejected,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(c)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let m = Metrics::default();
        m.observe(200, Duration::from_micros(700));
        m.observe(404, Duration::from_millis(3));
        m.ingested(5, 1, 2);
        let r = m.render();
        assert!(r.contains("detente_http_requests_total{class=\"2xx\"} 1"));
        assert!(r.contains("detente_http_requests_total{class=\"4xx\"} 1"));
        assert!(r.contains("detente_http_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(r.contains("detente_http_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(r.contains("detente_objects_stored_total 5"));
        assert!(r.contains("detente_objects_rejected_total 2"));
    }
}
