//! One module per subcommand.

pub mod aggregate;
pub mod compare;
pub mod run;
pub mod schema;
pub mod services;
pub mod simulate;
pub mod sink;
pub mod status_file;
pub mod sweep;
