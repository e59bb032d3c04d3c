//! Fetching log resources.

use std::io::Read as _;
use std::time::Duration;

use crate::ClientError;

/// Largest resource the client reads (a full entry bundle holds at most 256 · 64 KiB).
const MAX_BODY: u64 = 256 * (65_535 + 2) + 1;

/// Where log resources come from; paths are relative to the log prefix (`checkpoint`,
/// `tile/0/000`, `tile/entries/000`).
pub trait Fetcher {
    /// The body of one resource.
    fn fetch(&self, path: &str) -> Result<Vec<u8>, ClientError>;

    /// A description of where the log lives (for state keys and messages).
    fn location(&self) -> &str;
}

/// Fetches over HTTP(S) from `<base URL>/log/`.
pub struct HttpFetcher {
    prefix: String,
    agent: ureq::Agent,
}

impl HttpFetcher {
    /// A fetcher for the node at `base_url`; its log lives under `base_url/log/`.
    pub fn new(base_url: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build();
        Self::with_agent(base_url, ureq::Agent::new_with_config(config))
    }

    /// The same, through `agent` (e.g. one that trusts the node's own CA). The agent must
    /// not turn HTTP error statuses into errors.
    pub fn with_agent(base_url: &str, agent: ureq::Agent) -> Self {
        HttpFetcher {
            prefix: format!("{}/log/", base_url.trim_end_matches('/')),
            agent,
        }
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}{path}", self.prefix);
        let fail = |e: &dyn std::fmt::Display| ClientError::Fetch {
            url: url.clone(),
            message: e.to_string(),
        };
        let resp = self.agent.get(&url).call().map_err(|e| fail(&e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(ClientError::HttpStatus { url, status });
        }
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| fail(&e))?;
        if body.len() as u64 >= MAX_BODY {
            return Err(fail(&"response too large"));
        }
        Ok(body)
    }

    fn location(&self) -> &str {
        &self.prefix
    }
}
