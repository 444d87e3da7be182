//! ClickHouse storage of evbench: tables, migrations, users, KPI queries and both ingestion paths.
//!
//! * [`Dialect`]: what a server understands, from its version: a portable core that runs on
//!   Debian's ClickHouse 18.16 and on modern servers, plus codecs, `DateTime64` and
//!   `LowCardinality` where the server has them.
//! * [`Schema`]: the tables of one database (default `evbench`) for one dialect, on one server
//!   or on a cluster ([`Schema::on_cluster`]: replicated tables sharded by charger, read and
//!   written through `Distributed` tables of the same names), and [`migrate::apply`], which
//!   applies the versioned migrations that are missing and records them.
//! * [`users`]: the pipeline's `ingest` (insert only) and `grafana` (read only) users, as a
//!   `users.d` file for old servers or SQL for modern ones.
//! * [`kpi`]: the study's KPIs as named SQL, the same KPIs computed in Rust from sessions, and a
//!   comparison of the two.
//! * [`kafka_engine`]: the study's ingestion path, Kafka engine tables plus materialized views.
//! * [`rows`]: the RowBinary rows evbench's own ingestion path (the `sink`, in the `pipeline`
//!   crate) writes, encoded straight from the JSON that travels in Kafka.
//! * [`store`]: reading stored sessions and counts back, exact before background merges.
//!
//! Replays never count twice: raw signals are keyed by their Kafka position, sessions by their
//! id, dead letters by their Kafka position, all in `ReplacingMergeTree` tables, and every query
//! that must be exact reads them with `FINAL` (see `docs/schema.md`).

pub mod dialect;
pub mod kafka_engine;
pub mod kpi;
pub mod migrate;
mod rowbinary;
pub mod rows;
pub mod store;
mod tables;
pub mod users;

pub use dialect::Dialect;
pub use migrate::{Applied, Migration};

/// The default database of the pipeline.
pub const DEFAULT_DATABASE: &str = "evbench";

/// Table names inside the database.
pub mod table {
    /// Every raw sensor signal, with its Kafka position.
    pub const SIGNALS: &str = "signals";
    /// One row per charging session (visit).
    pub const SESSIONS: &str = "sessions";
    /// Messages that could not be stored, with the reason.
    pub const DEAD_LETTERS: &str = "dead_letters";
    /// The applied migrations.
    pub const MIGRATIONS: &str = "schema_migrations";
    /// Per station and hour rollup of the sessions (for dashboards).
    pub const STATION_HOURLY: &str = "station_hourly";
    /// The materialized view that fills [`STATION_HOURLY`].
    pub const STATION_HOURLY_MV: &str = "station_hourly_mv";
}

/// Errors of the schema crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statement or insert failed on the server.
    #[error("clickhouse: {context}")]
    ClickHouse {
        /// What was being done (the statement's first line, the table…).
        context: String,
        /// The client's error.
        source: clickhouse::error::Error,
    },
    /// An invalid name, setting or argument.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A result the server returned that cannot be read.
    #[error("unreadable result: {0}")]
    Unreadable(String),
    /// A required environment variable is missing.
    #[error("environment: {0}")]
    Environment(String),
    /// The operating system gave no random bytes (for a generated password).
    #[error("no random source for a password")]
    NoRandomness(#[source] getrandom::Error),
    /// A KPI query's answer is not text.
    #[error("unreadable result: KPI {query}")]
    KpiNotText {
        query: &'static str,
        #[source]
        source: std::str::Utf8Error,
    },
    /// A managed server refused a configuration file or a restart.
    #[error(transparent)]
    Server(#[from] endpoints::Error),
    /// Reading or writing a local file failed.
    #[error("{context}")]
    Io {
        /// The file or action.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn clickhouse(context: impl Into<String>, source: clickhouse::error::Error) -> Self {
        Error::ClickHouse {
            context: context.into(),
            source,
        }
    }
}

/// Result alias of the schema crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The storage of one database for one server dialect: what to create and how to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    dialect: Dialect,
    database: String,
    cluster: Option<String>,
}

impl Schema {
    /// The schema in the default database `evbench`.
    pub fn new(dialect: Dialect) -> Schema {
        Schema {
            dialect,
            database: DEFAULT_DATABASE.to_owned(),
            cluster: None,
        }
    }

    /// The same schema on the ClickHouse cluster `cluster` (as named in the servers'
    /// `remote_servers`; each server needs the macros `{shard}` and `{replica}` and a
    /// ZooKeeper): DDL runs `ON CLUSTER`; each table `t` is a replicated `t_local` on every
    /// server and a `Distributed` table `t` over them, sharded by charger (by Kafka position for
    /// dead letters), so that every copy of a row lands on one shard and `FINAL` collapses it.
    /// Readers and writers use the same names as on one server.
    pub fn on_cluster(mut self, cluster: &str) -> Result<Schema> {
        check_identifier(cluster)?;
        self.cluster = Some(cluster.to_owned());
        Ok(self)
    }

    /// The cluster, when the schema is for one.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The same schema in another database; names are `[A-Za-z_][A-Za-z0-9_]*`.
    pub fn with_database(mut self, database: &str) -> Result<Schema> {
        check_identifier(database)?;
        self.database = database.to_owned();
        Ok(self)
    }

    /// The server dialect.
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `database.table`.
    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{}", self.database, table)
    }

    /// Every versioned migration, in order.
    pub fn migrations(&self) -> Vec<Migration> {
        tables::migrations(self)
    }

    /// The statements that bootstrap migrations (database and migrations table; idempotent).
    pub fn bootstrap_statements(&self) -> Vec<String> {
        tables::bootstrap(self)
    }

    /// Every statement of the schema in order (bootstrap and migrations), as `schema print` shows.
    pub fn all_statements(&self) -> Vec<String> {
        let mut out = self.bootstrap_statements();
        for migration in self.migrations() {
            out.extend(migration.statements);
        }
        out
    }

    /// Statements that rebuild the hourly rollup from the deduplicated sessions (after replays
    /// double-counted it): truncate it, then aggregate `sessions FINAL` into it again.
    pub fn rollup_rebuild_statements(&self) -> Vec<String> {
        tables::rollup_rebuild(self)
    }
}

/// Accepts `[A-Za-z_][A-Za-z0-9_]*` (up to 64 characters): safe to splice into SQL unquoted.
pub fn check_identifier(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let ok = name.len() <= 64
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{name:?} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters)"
        )))
    }
}

/// A single-quoted SQL string literal, with `\` and `'` escaped.
pub fn sql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Runs one statement, naming it in the error.
pub(crate) async fn execute(client: &clickhouse::Client, sql: &str) -> Result<()> {
    client
        .query_raw(sql)
        .execute()
        .await
        .map_err(|e| Error::clickhouse(first_line(sql), e))
}

pub(crate) fn first_line(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or("");
    if line.len() > 120 {
        let mut end = 120;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &line[..end])
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("evbench").is_ok());
        assert!(check_identifier("_x1").is_ok());
        for bad in ["", "1x", "a-b", "a.b", "a b", "x'--"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
        assert!(
            Schema::new(Dialect::legacy())
                .with_database("bad name")
                .is_err()
        );
    }

    #[test]
    fn strings_are_quoted() {
        assert_eq!(sql_string("it's \\ fine"), r"'it\'s \\ fine'");
    }
}
