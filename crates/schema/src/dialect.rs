//! What SQL a ClickHouse server understands, decided by its version.
//!
//! evbench keeps one portable core that runs on Debian's ClickHouse 18.16 and on modern servers,
//! and switches on what a modern server has. The switch is one threshold, [`Dialect::MODERN_FROM`]
//! (22.3, the oldest LTS that has every modern feature used here); servers between 18.16 and that
//! version get the portable core, which they all run.

use std::fmt;

/// The SQL features the generated DDL, users and ingestion may use on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// `(major, minor)` of the server this dialect is for.
    pub version: (u32, u32),
    /// Per-column compression codecs (`CODEC(Delta, ZSTD(1))`, `Gorilla`, `DoubleDelta`).
    pub codecs: bool,
    /// `DateTime64(3)` and `fromUnixTimestamp64Milli`.
    pub datetime64: bool,
    /// `LowCardinality(String)` without the experimental switch.
    pub low_cardinality: bool,
    /// SQL access control: `CREATE USER`, `GRANT`, settings profiles (else users live in XML).
    pub sql_access: bool,
    /// `JSONExtract*` functions and the `JSONAsString` input format (else `visitParamExtract*`).
    pub json_functions: bool,
    /// The Kafka engine's `_partition` and `_offset` virtual columns.
    pub kafka_virtual_columns: bool,
    /// `<constraints>` in XML settings profiles (19.14+): stops a user from changing a setting.
    pub settings_constraints: bool,
}

impl Dialect {
    /// From this version on, every modern feature is switched on.
    pub const MODERN_FROM: (u32, u32) = (22, 3);

    /// The dialect of a server `major.minor`.
    pub fn for_version(major: u32, minor: u32) -> Dialect {
        let modern = (major, minor) >= Self::MODERN_FROM;
        Dialect {
            version: (major, minor),
            codecs: modern,
            datetime64: modern,
            low_cardinality: modern,
            sql_access: modern,
            json_functions: modern,
            kafka_virtual_columns: modern,
            settings_constraints: (major, minor) >= (19, 14),
        }
    }

    /// The dialect of a server as the harness detected it.
    pub fn for_server(version: &endpoints::ServerVersion) -> Dialect {
        Dialect::for_version(version.major, version.minor)
    }

    /// Debian's ClickHouse on these machines: the portable core only.
    pub fn legacy() -> Dialect {
        Dialect::for_version(18, 16)
    }

    /// A current server (26.9, as chDB embeds): every feature on.
    pub fn modern() -> Dialect {
        Dialect::for_version(26, 9)
    }

    /// Whether every modern feature is on.
    pub fn is_modern(&self) -> bool {
        self.version >= Self::MODERN_FROM
    }

    /// Reads `18.16`, `18.16.1`, `26.9.2.1`.
    pub fn parse_version(text: &str) -> Option<Dialect> {
        endpoints::ServerVersion::parse(text).map(|v| Dialect::for_server(&v))
    }

    /// `String`, or `LowCardinality(String)` where the server has it.
    pub(crate) fn dictionary_string(&self) -> &'static str {
        if self.low_cardinality {
            "LowCardinality(String)"
        } else {
            "String"
        }
    }

    /// ` CODEC(...)` where the server has codecs, else nothing.
    pub(crate) fn codec(&self, codec: Codec) -> &'static str {
        if !self.codecs {
            return "";
        }
        match codec {
            Codec::Time => " CODEC(DoubleDelta, ZSTD(1))",
            Codec::Monotonic => " CODEC(Delta, ZSTD(1))",
            Codec::Float => " CODEC(Gorilla, ZSTD(1))",
            Codec::General => " CODEC(ZSTD(1))",
        }
    }

    /// The type of a wall-clock time column (milliseconds where the server has `DateTime64`).
    pub(crate) fn time_type(&self) -> &'static str {
        if self.datetime64 {
            "DateTime64(3, 'UTC')"
        } else {
            "DateTime('UTC')"
        }
    }

    /// The expression turning epoch milliseconds `column` into [`Self::time_type`].
    pub(crate) fn time_from_ms(&self, column: &str) -> String {
        if self.datetime64 {
            format!("fromUnixTimestamp64Milli({column}, 'UTC')")
        } else {
            format!("toDateTime(intDiv({column}, 1000), 'UTC')")
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.version;
        let kind = if self.is_modern() {
            "modern"
        } else {
            "portable core"
        };
        write!(f, "ClickHouse {major}.{minor} ({kind})")
    }
}

/// How a column's values behave, which decides its codec on modern servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Timestamps sorted within the key: second differences are near zero.
    Time,
    /// Counters and offsets that grow: first differences are small.
    Monotonic,
    /// Measurements: XOR with the previous value.
    Float,
    /// Everything else: ZSTD alone.
    General,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_choose_features() {
        let old = Dialect::for_version(18, 16);
        assert!(!old.codecs && !old.datetime64 && !old.low_cardinality && !old.sql_access);
        assert!(!old.settings_constraints);
        let new = Dialect::for_version(26, 9);
        assert!(new.codecs && new.datetime64 && new.low_cardinality && new.sql_access);
        assert!(new.json_functions && new.kafka_virtual_columns && new.is_modern());
        assert!(Dialect::for_version(22, 3).is_modern());
        assert!(!Dialect::for_version(22, 2).is_modern());
        assert!(Dialect::for_version(20, 1).settings_constraints);
        assert_eq!(Dialect::parse_version("26.9.2.1"), Some(new));
        assert_eq!(Dialect::parse_version("nonsense"), None);
    }

    #[test]
    fn legacy_has_no_codecs() {
        assert_eq!(Dialect::legacy().codec(Codec::Float), "");
        assert_eq!(
            Dialect::modern().codec(Codec::Float),
            " CODEC(Gorilla, ZSTD(1))"
        );
    }
}
