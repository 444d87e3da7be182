//! Versioned, idempotent migrations, recorded in `<db>.schema_migrations`.
//!
//! [`apply`] creates the database and the migrations table when missing, reads which versions
//! are recorded, and runs the missing migrations in order, recording each once all its statements
//! succeeded. Every statement is itself idempotent (`IF NOT EXISTS`), so a migration interrupted
//! half-way is simply run again.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::{Result, Schema, execute, sql_string, table};

/// One versioned step of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Strictly increasing from 1.
    pub version: u32,
    /// What it creates.
    pub name: &'static str,
    /// Its statements, in order.
    pub statements: Vec<String>,
}

impl Migration {
    pub(crate) fn new(version: u32, name: &'static str, statements: Vec<String>) -> Migration {
        Migration {
            version,
            name,
            statements,
        }
    }

    /// SHA-256 (hex) of the statements: tells whether a recorded migration had the same text.
    pub fn checksum(&self) -> String {
        let mut hasher = Sha256::new();
        for statement in &self.statements {
            hasher.update(statement.as_bytes());
            hasher.update(b"\n;\n");
        }
        hex(&hasher.finalize())
    }
}

/// A migration [`apply`] ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Its version.
    pub version: u32,
    /// Its name.
    pub name: &'static str,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The versions recorded in the migrations table with their checksums (empty when it is missing).
pub async fn recorded(
    client: &clickhouse::Client,
    schema: &Schema,
) -> Result<HashMap<u32, String>> {
    let sql = format!(
        "SELECT version, checksum FROM {} FINAL",
        schema.qualified(table::MIGRATIONS)
    );
    let rows: Vec<(u32, String)> = client
        .query_raw(&sql)
        .fetch_all()
        .await
        .map_err(|e| crate::Error::clickhouse("read the migrations table", e))?;
    Ok(rows.into_iter().collect())
}

/// Applies the migrations that are not recorded yet; returns those it ran (empty when the schema
/// is up to date). A recorded migration whose text changed since is reported in the log, not rerun.
pub async fn apply(client: &clickhouse::Client, schema: &Schema) -> Result<Vec<Applied>> {
    for statement in schema.bootstrap_statements() {
        execute(client, &statement).await?;
    }
    let recorded = recorded(client, schema).await?;
    let mut applied = Vec::new();
    for migration in schema.migrations() {
        let checksum = migration.checksum();
        if let Some(previous) = recorded.get(&migration.version) {
            if *previous != checksum {
                tracing::warn!(
                    version = migration.version,
                    name = migration.name,
                    "migration recorded with another text (another dialect or an older evbench); not rerun"
                );
            }
            continue;
        }
        for statement in &migration.statements {
            execute(client, statement).await?;
        }
        let record = format!(
            "INSERT INTO {} (version, name, checksum, dialect) VALUES ({}, {}, {}, {})",
            schema.qualified(table::MIGRATIONS),
            migration.version,
            sql_string(migration.name),
            sql_string(&checksum),
            sql_string(&schema.dialect().to_string()),
        );
        execute(client, &record).await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        applied.push(Applied {
            version: migration.version,
            name: migration.name,
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    #[test]
    fn versions_increase_and_checksums_differ_by_dialect() {
        let legacy = Schema::new(Dialect::legacy()).migrations();
        let modern = Schema::new(Dialect::modern()).migrations();
        for (i, m) in legacy.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
            assert_eq!(m.checksum().len(), 64);
        }
        assert_ne!(legacy[0].checksum(), modern[0].checksum());
        assert_eq!(legacy[0].checksum(), legacy[0].clone().checksum());
    }
}
