//! The smallest HTTP server Prometheus needs: `GET /metrics` on a thread of its own.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;

use crate::{Error, Result};

/// A running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl MetricsServer {
    /// The address it listens on (the port chosen when `:0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

/// Serves `registry` on `addr` (`GET /metrics`; anything else is a 404).
pub fn serve(addr: &str, registry: Registry) -> Result<MetricsServer> {
    let listener = TcpListener::bind(addr).map_err(|source| Error::Io {
        context: format!("cannot listen for metrics on {addr}"),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        context: "the metrics listener's address".into(),
        source,
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream
                    && let Err(e) = answer(stream, &registry)
                {
                    tracing::debug!(error = %e, "metrics request");
                }
            }
        })
        .map_err(|source| Error::Io {
            context: "cannot start the metrics thread".into(),
            source,
        })?;
    Ok(MetricsServer { addr, stop })
}

/// Reads one request and answers it; the connection is then closed.
fn answer(stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers are read and ignored (no body comes with a GET).
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = if method == "GET" && (path == "/metrics" || path == "/") {
        let mut body = String::with_capacity(8192);
        prometheus_text::encode(&mut body, registry).map_err(std::io::Error::other)?;
        ("200 OK", prometheus_text::CONTENT_TYPE, body)
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "metrics are at /metrics\n".to_owned(),
        )
    };
    let mut stream = &stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
