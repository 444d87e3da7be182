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

/// Starts the metrics endpoint when `--metrics-addr` asks for it and says where it is.
pub fn serve_metrics(
    addr: Option<&str>,
    component: &'static str,
    collector: impl prometheus_client::collector::Collector,
) -> anyhow::Result<Option<pipeline::metrics::MetricsServer>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let server = pipeline::metrics::serve(addr, pipeline::metrics::registry(component, collector))?;
    eprintln!(
        "{component}: Prometheus metrics on http://{}/metrics",
        server.local_addr()
    );
    Ok(Some(server))
}

/// How this process logs in to Kafka: from `EVBENCH_KAFKA_SASL_*` and `EVBENCH_KAFKA_CA_FILE`
/// (plaintext when none is set); half-configured settings are bad input (exit 2).
pub fn kafka_security() -> Result<Option<endpoints::KafkaSecurity>, crate::Failure> {
    endpoints::KafkaSecurity::from_env().map_err(crate::Failure::input)
}
