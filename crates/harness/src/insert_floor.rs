//! The insert floor: how fast `clickhouse-client` alone inserts a table's rows into the same
//! ClickHouse server, so that a run can set the sink's rate beside what the server takes from
//! its own client at the same moment.
//!
//! The rows are the run's own: the table is dumped as `JSONEachRow` into a file (not timed),
//! then one `clickhouse-client` inserts the file into an empty twin of the table (`CREATE
//! TABLE … AS …`, same engine and sorting key) and the twin is dropped. One client, one insert,
//! no network but loopback: the ceiling an ingester on this server can hope for.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{Error, Result};

/// What `clickhouse-client` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InsertFloor {
    /// `database.table` the rows came from.
    pub table: String,
    /// Rows inserted.
    pub rows: u64,
    /// The input format (`JSONEachRow`: text, as the sink's input is).
    pub format: String,
    /// The insert's wall time, the client's start included.
    pub seconds: f64,
    pub rows_per_s: f64,
}

/// Dumps `database.table` and times `clickhouse-client` (at `tcp`) inserting it into a twin
/// table, which is dropped afterwards (also when the insert fails).
pub fn client_insert(
    tcp: std::net::SocketAddr,
    database: &str,
    table: &str,
) -> Result<InsertFloor> {
    let source = format!("{database}.{table}");
    let twin = format!("{database}.{table}_insert_floor");
    let dump =
        tempfile::NamedTempFile::new().map_err(|e| Error::io("create a temporary file", e))?;
    let drop_twin = format!("DROP TABLE IF EXISTS {twin}");
    let reopen = || {
        dump.reopen()
            .map_err(|e| Error::io("open the insert floor's dump", e))
    };
    client(tcp, &drop_twin, None, None)?;
    client(
        tcp,
        &format!("SELECT * FROM {source} FORMAT JSONEachRow"),
        None,
        Some(reopen()?),
    )?;
    client(tcp, &format!("CREATE TABLE {twin} AS {source}"), None, None)?;
    let started = Instant::now();
    let inserted = client(
        tcp,
        &format!("INSERT INTO {twin} FORMAT JSONEachRow"),
        Some(reopen()?),
        None,
    );
    let seconds = started.elapsed().as_secs_f64();
    let counted = inserted.and_then(|()| count(tcp, &twin));
    client(tcp, &drop_twin, None, None)?;
    let rows = counted?;
    Ok(InsertFloor {
        table: source,
        rows,
        format: "JSONEachRow".to_owned(),
        seconds,
        rows_per_s: if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        },
    })
}

fn count(tcp: std::net::SocketAddr, table: &str) -> Result<u64> {
    let output = Command::new("clickhouse-client")
        .args([
            "--host",
            &tcp.ip().to_string(),
            "--port",
            &tcp.port().to_string(),
        ])
        .arg("--query")
        .arg(format!("SELECT count() FROM {table}"))
        .output()
        .map_err(|e| Error::io("run clickhouse-client", e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().map_err(|_| {
        Error::io(
            "clickhouse-client",
            std::io::Error::other(format!(
                "count of {table}: {:?} {}",
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        )
    })
}

/// Runs one query through `clickhouse-client`, its input from `stdin` and its output to
/// `stdout` when given.
fn client(
    tcp: std::net::SocketAddr,
    query: &str,
    stdin: Option<std::fs::File>,
    stdout: Option<std::fs::File>,
) -> Result<()> {
    let mut command = Command::new("clickhouse-client");
    command
        .args([
            "--host",
            &tcp.ip().to_string(),
            "--port",
            &tcp.port().to_string(),
        ])
        .args(["--query", query])
        .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
        .stdout(stdout.map_or_else(Stdio::null, Stdio::from))
        .stderr(Stdio::piped());
    let output = command.output().map_err(|e| {
        Error::io(
            "run clickhouse-client (Debian's clickhouse-client package)",
            e,
        )
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::io(
            "clickhouse-client",
            std::io::Error::other(format!(
                "{query:?} exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        ))
    }
}
