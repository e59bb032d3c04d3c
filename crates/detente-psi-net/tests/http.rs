//! The HTTP service and client against each other on loopback: results and abuse handling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use detente_psi::{Mode, Outcome, Progress, Querier, normalize};
use detente_psi_net::client::{QueryError, QueryOptions, query};
use detente_psi_net::server::{PsiService, ServeConfig, Standalone, router};
use detente_psi_net::{NoProgress, ProgressFactory, SESSION_PATH};
use rand_core::OsRng;

/// Counts the group-operation phases the server starts (each `start` precedes any group op).
#[derive(Default)]
struct Phases(AtomicU64);

impl ProgressFactory for Phases {
    fn start(&self, _phase: &'static str, _total: u64) -> Box<dyn Progress + Send> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::new(())
    }
}

fn items(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| normalize(&format!("{prefix}{i}.example")).unwrap())
        .collect()
}

async fn start(
    own: Vec<String>,
    config: ServeConfig,
    token: Option<&str>,
) -> (String, Arc<Phases>) {
    let phases = Arc::new(Phases::default());
    let service = Arc::new(PsiService::new(Arc::new(own), config, phases.clone()));
    let state = Standalone {
        service,
        token: token.map(str::to_string),
        on_session: Arc::new(|_| {}),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (format!("http://{addr}"), phases)
}

fn config(max_items: u32, budget: Option<(u64, Duration)>) -> ServeConfig {
    ServeConfig { max_items, budget }
}

async fn run_query(
    url: &str,
    x: Vec<String>,
    mode: Mode,
    token: Option<&str>,
) -> Result<detente_psi_net::client::QueryReport, QueryError> {
    let url = url.to_string();
    let options = QueryOptions {
        authorization: token.map(|t| format!("Bearer {t}")),
        tls: None,
        mode,
        max_peer_items: 1_000_000,
    };
    tokio::task::spawn_blocking(move || query(&url, &x, &options, &NoProgress))
        .await
        .unwrap()
}

/// POSTs raw bytes; returns status, Retry-After and body text.
async fn post_raw(url: &str, body: Vec<u8>) -> (u16, Option<String>, String) {
    let url = format!("{url}{SESSION_PATH}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.post(&url).send(&body[..]).unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (r.status().as_u16(), retry, text)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intersection_and_count_over_http() {
    let own = items("a", 0..500);
    let mut x = items("a", 0..50);
    x.extend(items("q", 0..450));
    let (url, _) = start(own, config(1000, None), Some("tok")).await;
    let report = run_query(&url, x.clone(), Mode::Intersection, Some("tok"))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Intersection((0..50).collect()));
    assert_eq!(report.peer_items, 500);
    // 28 + 32·500 bytes out; 32 + 32·500 + 8·500 back (ℓ = ⌈(40 + 9 + 9) / 8⌉ = 8 bytes).
    assert_eq!(report.bytes_sent, 28 + 32 * 500);
    assert_eq!(report.bytes_received, 32 + 32 * 500 + 8 * 500);
    let report = run_query(&url, x, Mode::CountOnly, Some("tok"))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Count(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_refused() {
    let (url, phases) = start(items("a", 0..5), config(10, None), Some("tok")).await;
    let err = run_query(&url, items("a", 0..3), Mode::Intersection, Some("nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Refused { status: 401, .. }),
        "{err}"
    );
    let err = run_query(&url, items("a", 0..3), Mode::Intersection, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Refused { status: 401, .. }),
        "{err}"
    );
    assert_eq!(phases.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_cap_is_refused_before_any_group_operation() {
    let (url, phases) = start(items("a", 0..5), config(1000, None), None).await;
    let err = run_query(&url, items("q", 0..1001), Mode::Intersection, None)
        .await
        .unwrap_err();
    match err {
        QueryError::Refused {
            status, message, ..
        } => {
            assert_eq!(status, 413);
            assert!(
                message.contains("1001 items") && message.contains("at most 1000"),
                "{message}"
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(phases.0.load(Ordering::SeqCst), 0, "no group operation ran");
    // A header alone claiming a huge set is refused the same way.
    let (_, request) =
        Querier::start(&items("q", 0..1), Mode::Intersection, &mut OsRng, &()).unwrap();
    let mut header = request.encode()[..28].to_vec();
    header[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    let (status, _, text) = post_raw(&url, header).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(phases.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_budget_gives_429_with_retry_after() {
    // 30 own items; each 40-item session costs 70 of the 100-item budget.
    let (url, phases) = start(
        items("a", 0..30),
        config(1000, Some((100, Duration::from_secs(600)))),
        None,
    )
    .await;
    // A session bigger than the whole budget is forbidden outright (on an unused window: on
    // a used one, a querier set that alone no longer fits is refused before the items load).
    let err = run_query(&url, items("q", 0..80), Mode::CountOnly, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Refused { status: 403, .. }),
        "{err}"
    );
    run_query(&url, items("q", 0..40), Mode::CountOnly, None)
        .await
        .unwrap();
    let err = run_query(&url, items("q", 0..40), Mode::CountOnly, None)
        .await
        .unwrap_err();
    match err {
        QueryError::Refused {
            status,
            retry_after,
            message,
            ..
        } => {
            assert_eq!(status, 429, "{message}");
            let secs = retry_after.expect("Retry-After header");
            assert!((590..=600).contains(&secs), "retry after {secs}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(
        phases.0.load(Ordering::SeqCst),
        1,
        "only the first session computed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_and_replayed_requests() {
    let (url, _) = start(items("a", 0..10), config(100, None), None).await;
    let (status, _, text) = post_raw(&url, b"GET me something".to_vec()).await;
    assert_eq!(status, 400);
    assert!(text.contains("truncated"), "{text}");
    let (status, _, text) = post_raw(&url, vec![b'X'; 64]).await;
    assert_eq!(status, 400);
    assert!(text.contains("bad magic"), "{text}");

    let (_, request) =
        Querier::start(&items("q", 0..5), Mode::Intersection, &mut OsRng, &()).unwrap();
    let bytes = request.encode();
    let (status, _, text) = post_raw(&url, bytes[..bytes.len() - 10].to_vec()).await;
    assert_eq!(status, 400);
    assert!(text.contains("truncated"), "{text}");

    // The truncated attempt burnt the id; a fresh session runs once, then is refused.
    let (_, request) =
        Querier::start(&items("q", 0..5), Mode::Intersection, &mut OsRng, &()).unwrap();
    let bytes = request.encode();
    let (status, _, _) = post_raw(&url, bytes.clone()).await;
    assert_eq!(status, 200);
    let (status, _, text) = post_raw(&url, bytes).await;
    assert_eq!(status, 409);
    assert!(text.contains("replay"), "{text}");

    let (_, request) =
        Querier::start(&items("q", 0..5), Mode::Intersection, &mut OsRng, &()).unwrap();
    let mut bytes = request.encode();
    bytes[28..60].copy_from_slice(&[0xff; 32]);
    let (status, _, text) = post_raw(&url, bytes).await;
    assert_eq!(status, 422);
    assert!(text.contains("point 0"), "{text}");
}

/// A replayed session, or one whose querier set alone exceeds what is left of the budget,
/// is refused before the answerer's items are loaded (for a node, a whole collection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_spent_budgets_are_refused_before_loading_items() {
    let service = PsiService::new(
        Arc::new(Vec::new()),
        config(1000, Some((100, Duration::from_secs(600)))),
        Arc::new(NoProgress),
    );
    let loads = AtomicU64::new(0);
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(Arc::new(items("a", 0..10))))
    };
    let session = |n: usize| {
        let (_, request) =
            Querier::start(&items("q", 0..n), Mode::CountOnly, &mut OsRng, &()).unwrap();
        request.encode()
    };
    let first = session(50);
    service
        .handle_with("peer", first.clone().into(), load)
        .await
        .unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let replay = service
        .handle_with("peer", first.into(), load)
        .await
        .unwrap_err();
    assert!(
        replay.error.to_string().contains("replay"),
        "{}",
        replay.error
    );
    // 60 used of 100: a 50-item querier set cannot fit whatever the collection holds.
    let spent = service
        .handle_with("peer", session(50).into(), load)
        .await
        .unwrap_err();
    assert!(
        spent.error.to_string().contains("budget"),
        "{}",
        spent.error
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1, "refusals loaded the items");
    // Another member's budget is its own.
    service
        .handle_with("other", session(50).into(), load)
        .await
        .unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}
