//! Free loopback ports, never fixed ones.
//!
//! The OS picks a free port (bind to port 0), and a process-wide registry makes sure two
//! harnesses in the same test binary never get the same one even if the OS offers it twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{LazyLock, Mutex};

use crate::{Error, Result};

static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// A loopback port that is free now and that this process has not handed out before.
pub fn free_port() -> Result<u16> {
    const TRIES: u32 = 64;
    for _ in 0..TRIES {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("bind a free port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("read a bound port", e))?
            .port();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::NoFreePort { tries: TRIES })
}
