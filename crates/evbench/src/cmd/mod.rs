//! One module per subcommand.

pub mod services;
pub mod simulate;
