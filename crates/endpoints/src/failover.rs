//! Connections that fail over between the servers of a ClickHouse cluster.
//!
//! Every server of a cluster answers for all of it (the `Distributed` tables route reads and
//! inserts to the shards), so a client may talk to any of them. [`FailoverConnector`] connects
//! to the request's own server when it answers, else to the next of the others that does, and
//! keeps using the last one that answered: a stopped server costs one failed request (on a
//! connection it closed), never a stalled client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, PathAndQuery};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTP connector over a list of equivalent servers: the request's own server first (or the
/// last one that answered), then the others in order.
#[derive(Clone, Debug)]
pub struct FailoverConnector {
    http: HttpConnector,
    /// The other servers' `host:port`.
    others: Arc<[Authority]>,
    /// Which candidate answered last: 0 the request's own server, `i` the `others[i - 1]`.
    last_good: Arc<AtomicUsize>,
}

impl FailoverConnector {
    /// A connector trying `others` (URLs such as `http://127.0.0.1:8124`) after the request's
    /// own server. URLs that do not parse are skipped (they are checked where they are read).
    pub fn new(mut http: HttpConnector, others: &[String]) -> FailoverConnector {
        // A refused connection on loopback fails at once; one that hangs must not stall the
        // failover for the operating system's minutes.
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let others: Vec<Authority> = others
            .iter()
            .filter_map(|url| url.parse::<Uri>().ok()?.authority().cloned())
            .collect();
        FailoverConnector {
            http,
            others: others.into(),
            last_good: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The candidates for `uri`, in the order they are tried.
    fn candidates(&self, uri: &Uri) -> Vec<(usize, Uri)> {
        let total = self.others.len() + 1;
        let first = self.last_good.load(Ordering::Relaxed) % total;
        (0..total)
            .map(|k| (first + k) % total)
            .filter_map(|i| {
                if i == 0 {
                    return Some((0, uri.clone()));
                }
                let mut parts = uri.clone().into_parts();
                parts.authority = Some(self.others[i - 1].clone());
                if parts.path_and_query.is_none() {
                    parts.path_and_query = Some(PathAndQuery::from_static("/"));
                }
                Uri::from_parts(parts).ok().map(|u| (i, u))
            })
            .collect()
    }
}

impl tower_service::Service<Uri> for FailoverConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The HTTP connector is always ready (it resolves and connects in `call`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let candidates = self.candidates(&uri);
        let mut http = self.http.clone();
        let last_good = Arc::clone(&self.last_good);
        Box::pin(async move {
            let mut last_error: Option<BoxError> = None;
            for (index, candidate) in candidates {
                match tower_service::Service::call(&mut http, candidate.clone()).await {
                    Ok(io) => {
                        if last_good.swap(index, Ordering::Relaxed) != index {
                            tracing::info!(server = %candidate, "clickhouse: connected to another server of the cluster");
                        }
                        return Ok(io);
                    }
                    Err(e) => {
                        tracing::debug!(server = %candidate, error = %e, "clickhouse: server did not connect; trying the next");
                        last_error = Some(e.into());
                    }
                }
            }
            Err(last_error.unwrap_or_else(|| "no ClickHouse server to connect to".into()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_start_with_the_last_server_that_answered() {
        let connector = FailoverConnector::new(
            HttpConnector::new(),
            &[
                "http://127.0.0.1:2".into(),
                "not a url".into(),
                "http://127.0.0.1:3".into(),
            ],
        );
        let uri: Uri = "http://127.0.0.1:1/?query=SELECT%201".parse().unwrap();
        let order = |c: &FailoverConnector| -> Vec<String> {
            c.candidates(&uri)
                .into_iter()
                .map(|(_, u)| u.to_string())
                .collect()
        };
        assert_eq!(
            order(&connector),
            [
                "http://127.0.0.1:1/?query=SELECT%201",
                "http://127.0.0.1:2/?query=SELECT%201",
                "http://127.0.0.1:3/?query=SELECT%201"
            ]
        );
        connector.last_good.store(2, Ordering::Relaxed);
        assert_eq!(order(&connector)[0], "http://127.0.0.1:3/?query=SELECT%201");
        assert_eq!(order(&connector)[1], "http://127.0.0.1:1/?query=SELECT%201");
    }

    #[tokio::test]
    async fn a_refused_server_fails_over_to_one_that_listens() {
        use tower_service::Service;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = listener.local_addr().unwrap();
        // A port that was free a moment ago: nothing listens there.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut connector =
            FailoverConnector::new(HttpConnector::new(), &[format!("http://{live}")]);
        let uri: Uri = format!("http://{dead}/ping").parse().unwrap();
        let io = connector.call(uri.clone()).await.expect("failed over");
        let (accepted, _) = listener.accept().await.unwrap();
        assert_eq!(
            io.inner().peer_addr().unwrap(),
            accepted.local_addr().unwrap()
        );
        assert_eq!(connector.last_good.load(Ordering::Relaxed), 1);
        // Nothing listens anywhere: the error says so, nothing hangs.
        drop(listener);
        assert!(connector.call(uri).await.is_err());
    }
}
