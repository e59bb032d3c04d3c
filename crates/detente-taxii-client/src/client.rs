//! A connection to one node's API root: discovery, collections, paging, POST and status.

use std::cell::Cell;
use std::time::{Duration, Instant};

use detente_taxii::filter::escape;
use detente_taxii::media::{TAXII_21, content_type_is_taxii};
use detente_taxii::{Discovery, Envelope, ErrorMessage, Filter, Manifest, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;

use crate::{Credentials, Error, Tls};

/// The largest answer the client reads (a page of a large collection).
const MAX_RESPONSE: u64 = 512 * 1024 * 1024;
/// How much of a non-TAXII error body an error quotes.
const QUOTED: usize = 200;
/// The longest pause between two polls of a pending status.
const MAX_POLL: Duration = Duration::from_secs(2);

/// The scheme and authority of an http(s) URL (`https://host:port`).
pub fn origin(url: &str) -> Result<&str, Error> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .filter(|r| !r.is_empty() && !r.starts_with('/'))
        .ok_or_else(|| Error::NotHttp(url.to_owned()))?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Ok(&url[..url.len() - rest.len() + host_end])
}

/// One answer, whatever its status.
struct Answer {
    status: u16,
    body: Vec<u8>,
    content_type: Option<String>,
    /// `X-TAXII-Date-Added-Last`: where `added_after` paging resumes.
    added_last: Option<String>,
}

/// A client of one node's API root, as one member.
pub struct Client {
    agent: Agent,
    authorization: Option<String>,
    /// The node's base URL (scheme, host and port), where `/log/` and `/whoami` are.
    base: String,
    /// The API root URL, ending in `/`.
    pub api_root: String,
    /// HTTP requests made so far.
    requests: Cell<u64>,
}

impl Client {
    /// Connects to `url` (an API root URL, or the server's URL or discovery URL, whose
    /// default API root is then discovered) with `credentials`, trusting `tls`.
    pub fn connect(url: &str, credentials: &Credentials, tls: &Tls) -> Result<Client, Error> {
        Client::with_agent(tls.agent(), credentials.authorization(), url)
    }

    /// [`Client::connect`] through `agent` (which must return HTTP error statuses as
    /// answers, as [`Tls::agent`]'s do), sending `authorization` as the `Authorization` header.
    pub fn with_agent(
        agent: Agent,
        authorization: Option<String>,
        url: &str,
    ) -> Result<Client, Error> {
        let mut root = url.to_owned();
        if !root.ends_with('/') {
            root.push('/');
        }
        let base = origin(&root)?.to_owned();
        let mut client = Client {
            agent,
            authorization,
            base,
            api_root: String::new(),
            requests: Cell::new(0),
        };
        if root == format!("{}/", client.base) || root.ends_with("/taxii2/") {
            root = client.default_api_root()?;
        }
        client.api_root = root;
        Ok(client)
    }

    /// The default API root the server's discovery resource names (or its only one).
    fn default_api_root(&self) -> Result<String, Error> {
        let url = format!("{}/taxii2/", self.base);
        let d: Discovery = self.get_taxii(&url)?;
        let root = match (d.default, d.api_roots.as_slice()) {
            (Some(r), _) => r,
            (None, [only]) => only.clone(),
            _ => {
                return Err(Error::Unexpected {
                    url,
                    expected: "a default API root",
                    message: "its discovery names none; give the API root's URL".to_owned(),
                });
            }
        };
        let mut root = if root.starts_with('/') {
            format!("{}{root}", self.base)
        } else {
            origin(&root)?;
            root
        };
        if !root.ends_with('/') {
            root.push('/');
        }
        Ok(root)
    }

    /// Another handle on the same connection pool, login and API root, for another thread;
    /// it counts its own requests.
    pub fn fork(&self) -> Client {
        Client {
            agent: self.agent.clone(),
            authorization: self.authorization.clone(),
            base: self.base.clone(),
            api_root: self.api_root.clone(),
            requests: Cell::new(0),
        }
    }

    /// The connection pool (for other clients of the same node, such as the log's).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The node's base URL (scheme, host and port), where `/log/` and `/whoami` are.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A collection's URL, ending in `/`.
    pub fn collection_url(&self, collection: &str) -> String {
        format!("{}collections/{}/", self.api_root, escape(collection))
    }

    /// HTTP requests this client made so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    fn transport(url: &str, e: &dyn std::fmt::Display) -> Error {
        Error::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        }
    }

    /// Sends one request (a POST when `body` is given) and reads the answer.
    fn exchange(&self, url: &str, body: Option<&[u8]>) -> Result<Answer, Error> {
        self.requests.set(self.requests.get() + 1);
        let result = match body {
            None => {
                let mut req = self.agent.get(url).header("Accept", TAXII_21);
                if let Some(a) = &self.authorization {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            Some(b) => {
                let mut req = self
                    .agent
                    .post(url)
                    .header("Accept", TAXII_21)
                    .header("Content-Type", TAXII_21);
                if let Some(a) = &self.authorization {
                    req = req.header("Authorization", a);
                }
                req.send(b)
            }
        };
        let mut resp = result.map_err(|e| Self::transport(url, &e))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let added_last = header("x-taxii-date-added-last");
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| Self::transport(url, &e))?;
        Ok(Answer {
            status,
            body,
            content_type,
            added_last,
        })
    }

    /// GETs `url` as this member; returns the status and body, whatever the status.
    pub fn get(&self, url: &str) -> Result<(u16, String), Error> {
        let (status, body) = self.get_bytes(url)?;
        let body = String::from_utf8(body).map_err(|_| Error::Unexpected {
            url: url.to_owned(),
            expected: "UTF-8 text",
            message: "the body is not UTF-8".to_owned(),
        })?;
        Ok((status, body))
    }

    /// [`Client::get`] for a binary resource.
    pub fn get_bytes(&self, url: &str) -> Result<(u16, Vec<u8>), Error> {
        let a = self.exchange(url, None)?;
        Ok((a.status, a.body))
    }

    /// `Ok` for a success `status`, else the [`Error::Http`] of `request` (`GET URL`) with
    /// the node's error message read from `body`.
    pub fn check(status: u16, body: &str, request: &str) -> Result<(), Error> {
        if (200..300).contains(&status) {
            return Ok(());
        }
        let error = serde_json::from_str::<ErrorMessage>(body).ok();
        let message = match &error {
            Some(e) => e.description.clone().unwrap_or_else(|| e.title.clone()),
            None => body.chars().take(QUOTED).collect(),
        };
        Err(Error::Http {
            request: request.to_owned(),
            status,
            message,
            error: error.map(Box::new),
        })
    }

    /// Checks an answer's status and reads its JSON body as `T`; with `taxii`, the body must
    /// also be declared TAXII 2.1 (content negotiation: a proxy's page is not a resource).
    fn read<T: DeserializeOwned>(
        a: &Answer,
        request: &str,
        url: &str,
        taxii: bool,
        expected: &'static str,
    ) -> Result<T, Error> {
        Self::check(a.status, &String::from_utf8_lossy(&a.body), request)?;
        if taxii
            && let Some(ct) = a
                .content_type
                .as_deref()
                .filter(|c| !content_type_is_taxii(c))
        {
            return Err(Error::Unexpected {
                url: url.to_owned(),
                expected: "a TAXII 2.1 resource",
                message: format!("its Content-Type is {ct:?}"),
            });
        }
        serde_json::from_slice(&a.body).map_err(|e| Error::Unexpected {
            url: url.to_owned(),
            expected,
            message: e.to_string(),
        })
    }

    /// GETs a JSON resource (`/whoami`, `/log/…`) and reads it as `T`; an error status is an
    /// [`Error::Http`].
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        let a = self.exchange(url, None)?;
        Self::read(&a, &format!("GET {url}"), url, false, "the JSON expected")
    }

    /// GETs a TAXII resource and reads it as `T` (a [`Status`], [`Discovery`], …).
    pub fn get_taxii<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        let a = self.exchange(url, None)?;
        Self::read(
            &a,
            &format!("GET {url}"),
            url,
            true,
            "the TAXII resource expected",
        )
    }

    /// Pages through `url` with `filter`: `next` while the node gives one, else `added_after`
    /// from the page's `X-TAXII-Date-Added-Last` (TAXII's other paging); hands `each` every
    /// page read as `P`, which tells whether the node has `more`.
    fn pages<P, E>(
        &self,
        url: &str,
        filter: &Filter,
        more: impl Fn(&P) -> (bool, Option<String>),
        mut each: impl FnMut(P) -> Result<(), E>,
    ) -> Result<(), E>
    where
        P: DeserializeOwned,
        E: From<Error>,
    {
        let mut filter = Filter {
            next: None,
            ..filter.clone()
        };
        loop {
            let query = filter.to_query();
            let page_url = if query.is_empty() {
                url.to_owned()
            } else {
                format!("{url}?{query}")
            };
            let a = self.exchange(&page_url, None)?;
            let page: P = Self::read(&a, &format!("GET {page_url}"), &page_url, true, "a page")?;
            let (has_more, next) = more(&page);
            each(page)?;
            if !has_more {
                return Ok(());
            }
            let resume = |message: &str| Error::Unexpected {
                url: page_url.clone(),
                expected: "a page that can be followed",
                message: message.to_owned(),
            };
            if let Some(n) = next {
                if filter.next.as_deref() == Some(n.as_str()) {
                    return Err(resume("it says `more` but repeats the same `next` cursor").into());
                }
                filter.next = Some(n);
                continue;
            }
            let last = a
                .added_last
                .as_deref()
                .and_then(|t| detente_taxii::time::parse_micros(t).ok())
                .ok_or_else(|| {
                    resume("it says `more` but gives neither `next` nor X-TAXII-Date-Added-Last")
                })?;
            if filter.added_after.is_some_and(|after| after >= last) {
                return Err(resume("its X-TAXII-Date-Added-Last does not advance").into());
            }
            filter.added_after = Some(last);
        }
    }

    /// Hands `each` every object of `collection` that `filter` selects, page by page (its
    /// `next` is ignored: paging starts at the first page).
    pub fn each_object<E: From<Error>>(
        &self,
        collection: &str,
        filter: &Filter,
        mut each: impl FnMut(serde_json::Value) -> Result<(), E>,
    ) -> Result<(), E> {
        let url = format!("{}objects/", self.collection_url(collection));
        self.pages(
            &url,
            filter,
            |p: &Envelope| (p.more, p.next.clone()),
            |p| p.objects.into_iter().try_for_each(&mut each),
        )
    }

    /// Hands `each` every manifest record of `collection` that `filter` selects, page by page.
    pub fn each_manifest_record<E: From<Error>>(
        &self,
        collection: &str,
        filter: &Filter,
        mut each: impl FnMut(detente_taxii::ManifestRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let url = format!("{}manifest/", self.collection_url(collection));
        self.pages(
            &url,
            filter,
            |p: &Manifest| (p.more, p.next.clone()),
            |p| p.objects.into_iter().try_for_each(&mut each),
        )
    }

    /// POSTs `envelope` to `collection`; returns the node's status resource (which may still
    /// be `pending`: see [`Client::wait`]).
    pub fn post_envelope<T: Serialize>(
        &self,
        collection: &str,
        envelope: &Envelope<T>,
    ) -> Result<Status, Error> {
        let url = format!("{}objects/", self.collection_url(collection));
        let body = serde_json::to_vec(envelope).map_err(|e| Error::Unexpected {
            url: url.clone(),
            expected: "a request it could be sent",
            message: format!("the envelope does not serialize: {e}"),
        })?;
        let a = self.exchange(&url, Some(&body))?;
        Self::read(&a, &format!("POST {url}"), &url, true, "a status resource")
    }

    /// The status resource `id` (of an earlier POST).
    pub fn status(&self, id: &str) -> Result<Status, Error> {
        self.get_taxii(&format!("{}status/{}/", self.api_root, escape(id)))
    }

    /// Polls a pending `status` until it is complete, for at most `patience`.
    pub fn wait(&self, mut status: Status, patience: Duration) -> Result<Status, Error> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        while status.status == "pending" {
            if started.elapsed() >= patience {
                return Err(Error::Pending {
                    url: format!("{}status/{}/", self.api_root, escape(&status.id)),
                    id: status.id,
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(pause.min(patience.saturating_sub(started.elapsed())));
            pause = (pause * 2).min(MAX_POLL);
            status = self.status(&status.id)?;
        }
        Ok(status)
    }

    /// POSTs `objects` to `collection` in one envelope and waits (at most `patience`) until
    /// the node has processed them all; returns the final status.
    pub fn add_objects<T: Serialize>(
        &self,
        collection: &str,
        objects: &[T],
        patience: Duration,
    ) -> Result<Status, Error> {
        let envelope = Envelope::of(objects.iter().collect::<Vec<&T>>());
        let status = self.post_envelope(collection, &envelope)?;
        self.wait(status, patience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin("https://n:8484/api/").unwrap(), "https://n:8484");
        assert_eq!(origin("http://n").unwrap(), "http://n");
        assert_eq!(origin("http://n?x").unwrap(), "http://n");
        for bad in ["ftp://n/", "n:8484", "http://", "https:///x"] {
            assert!(matches!(origin(bad), Err(Error::NotHttp(_))), "{bad}");
        }
    }

    #[test]
    fn error_bodies_become_messages() {
        let e = Client::check(
            403,
            r#"{"title":"Forbidden","description":"you may not read this collection","http_status":"403"}"#,
            "GET http://n/api/collections/c/objects/",
        )
        .unwrap_err();
        assert_eq!(e.status(), Some(403));
        assert_eq!(
            e.to_string(),
            "GET http://n/api/collections/c/objects/ failed with HTTP 403: you may not read this collection"
        );
        let e = Client::check(502, "<html>bad gateway</html>", "GET u").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("HTTP 502: <html>bad gateway</html>"),
            "{e}"
        );
        assert!(Client::check(202, "", "POST u").is_ok());
    }
}
