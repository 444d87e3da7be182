//! One module per subcommand.

pub mod aggregate;
pub mod services;
pub mod simulate;
