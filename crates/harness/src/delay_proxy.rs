//! Added delay on one path: a TCP proxy that holds every chunk it relays for a set time.
//!
//! This kernel has no `netem` (and loads no modules), so delay cannot be put on a link; it is
//! put on a path instead, as Toxiproxy's `latency` toxic does: a client connects to the proxy
//! instead of the server, and every chunk read from either side is written to the other
//! `delay` (± `jitter`) later, in order. With no delay set it relays at once, so the proxy can
//! sit on the path for a whole run and the delay be switched on and off by a fault.
//!
//! (Why not a library: the Rust port of Toxiproxy, `noxious` 1.0.4, would add 16 crates the
//! workspace does not build — older majors of `syn`, `thiserror`, `rand`, `getrandom` and
//! `tokio-util` beside the ones it has, `bmrng`, `mockall_double` — counted with `cargo tree`
//! against the workspace's, for the one toxic used here: these hundred lines over Tokio.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{Error, Result};

/// Chunks in flight per direction before the reader waits: what a held-back path may buffer.
const IN_FLIGHT: usize = 1024;

/// The delay and jitter, in microseconds, shared with every connection.
#[derive(Debug, Default)]
struct Toxic {
    delay_us: AtomicU64,
    jitter_us: AtomicU64,
}

/// A running proxy. Dropping it closes the listener and every relayed connection.
#[derive(Debug)]
pub struct DelayProxy {
    listening: SocketAddr,
    target: SocketAddr,
    toxic: Arc<Toxic>,
    tasks: JoinSet<()>,
}

impl DelayProxy {
    /// Listens on `listen` (port 0: any free one) and relays every connection to `target`.
    /// Needs a Tokio runtime.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> Result<DelayProxy> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::io(format!("delay proxy: listen on {listen}"), e))?;
        let listening = listener
            .local_addr()
            .map_err(|e| Error::io("delay proxy: its address", e))?;
        let toxic = Arc::new(Toxic::default());
        let mut tasks = JoinSet::new();
        let shared = Arc::clone(&toxic);
        tasks.spawn(async move {
            // Each connection's relays live as long as the accept loop (dropping the proxy
            // aborts this task, and with it the set of relays).
            let mut relays = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let toxic = Arc::clone(&shared);
                relays.spawn(async move {
                    match TcpStream::connect(target).await {
                        Ok(server) => relay(client, server, toxic).await,
                        Err(e) => {
                            tracing::debug!(%target, error = %e, "delay proxy: target refused")
                        }
                    }
                });
                while relays.try_join_next().is_some() {}
            }
        });
        tracing::debug!(%listening, %target, "delay proxy started");
        Ok(DelayProxy {
            listening,
            target,
            toxic,
            tasks,
        })
    }

    /// Where clients connect instead of the target.
    pub fn local_addr(&self) -> SocketAddr {
        self.listening
    }

    /// The server it relays to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Holds every chunk from now on for `delay`, give or take up to `jitter` (uniformly);
    /// zero for both relays at once.
    pub fn set_delay(&self, delay: Duration, jitter: Duration) {
        self.toxic
            .jitter_us
            .store(jitter.as_micros() as u64, Ordering::Relaxed);
        self.toxic
            .delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// The delay it adds now.
    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.toxic.delay_us.load(Ordering::Relaxed))
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn relay(client: TcpStream, server: TcpStream, toxic: Arc<Toxic>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        direction(client_read, server_write, Arc::clone(&toxic)),
        direction(server_read, client_write, toxic),
    );
}

/// Relays one direction: a reader stamps each chunk with the moment it is due, a writer
/// writes it then. Due moments never go backwards, so jitter does not reorder bytes.
async fn direction(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    toxic: Arc<Toxic>,
) {
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = async move {
        let mut random = Jitter::seeded();
        let mut last_due = Instant::now();
        loop {
            let mut chunk = vec![0u8; 16 * 1024];
            let n = match from.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            chunk.truncate(n);
            let delay = toxic.delay_us.load(Ordering::Relaxed);
            let jitter = toxic.jitter_us.load(Ordering::Relaxed);
            let held = random.around(delay, jitter);
            let due = (Instant::now() + Duration::from_micros(held)).max(last_due);
            last_due = due;
            if sender.send((due, chunk)).await.is_err() {
                break;
            }
        }
        // Dropping the sender ends the writer once it has written what is queued.
    };
    let writer = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// A small xorshift generator for the jitter (no cryptographic need, no extra crate).
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Jitter(u64::from_le_bytes(seed) | 1)
    }

    /// `delay` ± up to `jitter`, never below zero.
    fn around(&mut self, delay: u64, jitter: u64) -> u64 {
        if jitter == 0 {
            return delay;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let offset = self.0 % (2 * jitter + 1);
        (delay + offset).saturating_sub(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pure logic only: the jitter stays within its bounds (the proxy itself is tested over
    /// real sockets in `tests/delay_proxy.rs`).
    #[test]
    fn jitter_stays_within_delay_plus_or_minus_jitter() {
        let mut jitter = Jitter(42);
        let held: Vec<u64> = (0..10_000).map(|_| jitter.around(50_000, 10_000)).collect();
        assert!(held.iter().all(|h| (40_000..=60_000).contains(h)));
        assert!(held.iter().any(|h| *h < 45_000) && held.iter().any(|h| *h > 55_000));
        assert_eq!(jitter.around(50_000, 0), 50_000);
        assert!((0..100).all(|_| jitter.around(1_000, 5_000) <= 6_000));
    }
}
