//! One module per subcommand.

pub mod aggregate;
pub mod run;
pub mod services;
pub mod simulate;
