//! One module per subcommand.

pub mod services;
