//! Makes the scenario's process faults happen while the load plays: each fault begins at its
//! `at` (counted from the first signal) and ends `for` later, in the order of those moments, so
//! faults may overlap. Every begin and end is logged and timed; the end of a restart is the
//! moment the part is back (a broker answering metadata, ClickHouse answering a query, a
//! component started again).

use std::time::Duration;

use harness::Services;
use tokio::time::Instant;

use super::spec::{FaultKind, FaultSpec};
use crate::component::Component;
use crate::engine::Engine;
use crate::ingestion::Running;
use crate::observe::now_ms;
use crate::resources::{Sampler, Target};

/// A process fault as it happened.
#[derive(Debug, Clone)]
pub(crate) struct Happened {
    pub spec: FaultSpec,
    /// When it began and ended, epoch ms (the end: the part is back).
    pub started_ms: i64,
    pub ended_ms: i64,
    /// What failed while making it happen or undoing it, if anything.
    pub error: Option<String>,
}

/// Why a process fault could not be made to happen or undone.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FaultFailure {
    #[error(
        "server faults need the native provider (evbench does not stop servers it did not start)"
    )]
    NotNative,
    #[error("{kind}: there is no instance {index}")]
    NoInstance { kind: FaultKind, index: usize },
    #[error("{0} names no node")]
    NoNode(FaultKind),
    #[error("{0} is not a process fault")]
    NotAProcessFault(FaultKind),
    #[error("{0} needs the nodes on their own addresses ([services] network = \"own-addresses\")")]
    NoNetwork(FaultKind),
    /// A server would not stop or start.
    #[error("the services")]
    Services(#[from] harness::Error),
    /// A part of the pipeline would not start again.
    #[error("the pipeline")]
    Pipeline(#[from] crate::Error),
}

/// What the faults act on.
pub(crate) struct Targets<'a> {
    pub engine: &'a mut Engine,
    pub ingestion: &'a mut Running,
    /// The delay proxies on sink instances' paths to ClickHouse, by instance name.
    pub proxies: &'a std::collections::BTreeMap<String, harness::delay_proxy::DelayProxy>,
    pub services: &'a mut Services,
    pub sampler: &'a Sampler,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Begin,
    End,
}

/// Runs `faults` (process faults) against `targets`, timed from `load_started`; returns when
/// the last one has ended.
pub(crate) async fn drive(
    faults: &[FaultSpec],
    load_started: Instant,
    targets: &mut Targets<'_>,
) -> Vec<Happened> {
    let mut happened: Vec<Happened> = faults
        .iter()
        .map(|spec| Happened {
            spec: spec.clone(),
            started_ms: 0,
            ended_ms: 0,
            error: None,
        })
        .collect();
    let mut steps: Vec<(Duration, usize, Step)> = faults
        .iter()
        .enumerate()
        .map(|(i, spec)| (spec.at.unwrap_or_default(), i, Step::Begin))
        .collect();
    // One step at a time, the earliest first (ties: in the file's order). A fault's end is
    // scheduled once it has begun, `for` after the beginning finished: a slow step (a server
    // that takes seconds to stop) delays what follows it, but never shortens a fault.
    while let Some(next) = steps
        .iter()
        .enumerate()
        .min_by_key(|(_, (at, i, _))| (*at, *i))
        .map(|(k, _)| k)
    {
        let (at, i, step) = steps.swap_remove(next);
        tokio::time::sleep_until(load_started + at).await;
        let fault = &mut happened[i];
        let result = match step {
            Step::Begin => {
                fault.started_ms = now_ms();
                tracing::info!(fault = %fault.spec.kind, "fault begins");
                let result = begin(&fault.spec, targets).await;
                let lasts = fault.spec.lasts();
                steps.push((
                    (at + lasts).max(load_started.elapsed() + lasts),
                    i,
                    Step::End,
                ));
                result
            }
            Step::End => {
                let result = end(&fault.spec, targets).await;
                fault.ended_ms = now_ms();
                tracing::info!(fault = %fault.spec.kind, "fault ends");
                result
            }
        };
        if let Err(e) = result {
            tracing::warn!(fault = %fault.spec.kind, error = %e, "fault could not be made to happen");
            fault.error.get_or_insert(crate::error_chain(&e));
        }
    }
    happened
}

async fn begin(spec: &FaultSpec, targets: &mut Targets<'_>) -> Result<(), FaultFailure> {
    match spec.kind {
        FaultKind::KillAggregator | FaultKind::KillSink => {
            component(spec, targets)?.kill();
            Ok(())
        }
        FaultKind::RestartKafka => {
            let kafka = targets
                .services
                .native_kafka()
                .ok_or(FaultFailure::NotNative)?;
            tokio::task::block_in_place(|| kafka.stop());
            Ok(())
        }
        FaultKind::RestartClickhouse => {
            let clickhouse = targets
                .services
                .native_clickhouse()
                .ok_or(FaultFailure::NotNative)?;
            tokio::task::block_in_place(|| clickhouse.stop());
            Ok(())
        }
        FaultKind::PauseKafka => {
            targets
                .services
                .native_kafka()
                .ok_or(FaultFailure::NotNative)?
                .pause();
            Ok(())
        }
        FaultKind::PauseClickhouse => {
            targets
                .services
                .native_clickhouse()
                .ok_or(FaultFailure::NotNative)?
                .pause();
            Ok(())
        }
        FaultKind::StopBroker | FaultKind::StopClickhouse | FaultKind::StopZookeeper => {
            let node = spec.node().ok_or(FaultFailure::NoNode(spec.kind))?;
            targets
                .services
                .stop_node(&node)
                .await
                .map_err(FaultFailure::from)
        }
        FaultKind::KillBroker | FaultKind::KillClickhouse => {
            let node = spec.node().ok_or(FaultFailure::NoNode(spec.kind))?;
            targets
                .services
                .kill_node(&node)
                .map_err(FaultFailure::from)
        }
        FaultKind::Partition => {
            let (network, node) = network_and_node(spec, targets)?;
            let others: Vec<String> = match &spec.from {
                Some(from) => from.clone(),
                None => network
                    .nodes()
                    .map(|(name, _)| name.to_owned())
                    .filter(|name| *name != node)
                    .chain([harness::netns::HOST.to_owned()])
                    .collect(),
            };
            let others: Vec<&str> = others.iter().map(String::as_str).collect();
            let direction = spec
                .direction
                .unwrap_or(super::spec::PartitionDirection::Both)
                .into();
            network
                .partition(&[node.as_str()], &others, direction)
                .map_err(FaultFailure::from)
        }
        FaultKind::Latency => {
            let proxy = delay_proxy(spec, targets)?;
            proxy.set_delay(
                spec.delay.unwrap_or_default(),
                spec.jitter.unwrap_or_default(),
            );
            Ok(())
        }
        FaultKind::SlowLink => {
            let bits = spec
                .rate
                .as_deref()
                .and_then(super::spec::parse_rate)
                .ok_or(FaultFailure::NoNode(spec.kind))?;
            let (network, node) = network_and_node(spec, targets)?;
            network.slow_link(&node, bits).map_err(FaultFailure::from)
        }
        data => Err(FaultFailure::NotAProcessFault(data)),
    }
}

/// The proxy on the path a `latency` fault delays.
fn delay_proxy<'t>(
    spec: &FaultSpec,
    targets: &'t Targets<'_>,
) -> Result<&'t harness::delay_proxy::DelayProxy, FaultFailure> {
    spec.delayed_sink()
        .and_then(|instance| targets.proxies.get(&format!("sink-{instance}")))
        .ok_or(FaultFailure::NoNode(spec.kind))
}

/// The run's network and the name on it of the server a network fault names.
fn network_and_node<'t>(
    spec: &FaultSpec,
    targets: &'t mut Targets<'_>,
) -> Result<(&'t mut harness::netns::RunNetwork, String), FaultFailure> {
    let name = spec
        .network_node_name(&targets.services.topology)
        .ok_or(FaultFailure::NoNode(spec.kind))?;
    let network = targets
        .services
        .network_mut()
        .ok_or(FaultFailure::NoNetwork(spec.kind))?;
    Ok((network, name))
}

async fn end(spec: &FaultSpec, targets: &mut Targets<'_>) -> Result<(), FaultFailure> {
    let sampler = targets.sampler;
    match spec.kind {
        FaultKind::KillAggregator | FaultKind::KillSink => {
            let component = component(spec, targets)?;
            tokio::task::block_in_place(|| component.restart()).map_err(FaultFailure::from)?;
            if let Some(pgid) = component.pgid() {
                sampler.watch(component.name(), Target::Group(pgid), false);
            }
            Ok(())
        }
        FaultKind::RestartKafka => {
            let kafka = targets
                .services
                .native_kafka()
                .ok_or(FaultFailure::NotNative)?;
            tokio::task::block_in_place(|| kafka.restart()).map_err(FaultFailure::from)?;
            if let Some(pgid) = kafka.pgid() {
                sampler.watch("kafka", Target::Group(pgid), false);
            }
            Ok(())
        }
        FaultKind::RestartClickhouse => {
            let clickhouse = targets
                .services
                .native_clickhouse()
                .ok_or(FaultFailure::NotNative)?;
            clickhouse.restart().await.map_err(FaultFailure::from)?;
            if let Some(pgid) = clickhouse.pgid() {
                sampler.watch("clickhouse", Target::Group(pgid), false);
            }
            Ok(())
        }
        FaultKind::PauseKafka => {
            targets
                .services
                .native_kafka()
                .ok_or(FaultFailure::NotNative)?
                .resume();
            Ok(())
        }
        FaultKind::PauseClickhouse => {
            targets
                .services
                .native_clickhouse()
                .ok_or(FaultFailure::NotNative)?
                .resume();
            Ok(())
        }
        FaultKind::Partition => {
            let (network, _) = network_and_node(spec, targets)?;
            network.heal().map_err(FaultFailure::from)
        }
        FaultKind::SlowLink => {
            let (network, node) = network_and_node(spec, targets)?;
            network.restore_link(&node).map_err(FaultFailure::from)
        }
        FaultKind::Latency => {
            delay_proxy(spec, targets)?.set_delay(Duration::ZERO, Duration::ZERO);
            Ok(())
        }
        kind if kind.is_node() => {
            let node = spec.node().ok_or(FaultFailure::NoNode(spec.kind))?;
            targets
                .services
                .start_node(&node)
                .await
                .map_err(FaultFailure::from)?;
            // Its new process group, under the name the run watches it by.
            let pgid = targets.services.node_pgid(&node);
            if let Some((name, pgid)) = targets
                .services
                .process_groups()
                .into_iter()
                .find(|(_, g)| Some(*g) == pgid)
            {
                sampler.watch(&name, Target::Group(pgid), false);
            }
            Ok(())
        }
        data => Err(FaultFailure::NotAProcessFault(data)),
    }
}

/// The component a kill fault names.
fn component<'t>(
    spec: &FaultSpec,
    targets: &'t mut Targets<'_>,
) -> Result<&'t mut Component, FaultFailure> {
    let index = spec.instance.unwrap_or(0) as usize;
    let found = match spec.kind {
        FaultKind::KillAggregator => targets.engine.instance_mut(index),
        _ => targets.ingestion.sink_mut(index),
    };
    found.ok_or(FaultFailure::NoInstance {
        kind: spec.kind,
        index,
    })
}
