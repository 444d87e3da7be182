//! Draining: after the last signal, wait until every ground-truth session is in the sessions
//! topic and in ClickHouse and every raw signal is stored — or the drain timeout passes, or
//! nothing is left running that could still deliver.

use std::time::{Duration, Instant};

use crate::observe::{SeenSession, TopicObserver};
use crate::storage::Storage;

/// What the drain reached.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Drained {
    pub complete: bool,
    /// When it completed (or gave up).
    pub at: Option<Instant>,
    pub sessions_in_topic: u64,
    pub stored_signals: u64,
    pub stored_sessions: u64,
    /// Why it gave up early: the pipeline stopped running.
    pub pipeline_gone: bool,
}

/// The consumer lag of the pipeline's own processes once the data had drained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum LagAtEnd {
    /// No process of the pipeline serves metrics (other engines, the Kafka-engine path), or
    /// the drain did not complete.
    #[default]
    NotMeasured,
    /// Every partition of every process at 0.
    Zero,
    /// Partitions still behind (`process topic/partition: lag`) at the last scrape.
    Behind(Vec<String>),
}

/// After the data drained: waits (at most `within`) until every process that serves metrics
/// has said, in a scrape after now, that none of its partitions lags.
pub(crate) async fn confirm_lag(
    watcher: &crate::lag::LagWatcher,
    processes: usize,
    within: Duration,
) -> LagAtEnd {
    if processes == 0 {
        return LagAtEnd::NotMeasured;
    }
    let deadline = Instant::now() + within;
    let mut last = LagAtEnd::NotMeasured;
    loop {
        if let Some(behind) = watcher.behind(processes) {
            if behind.is_empty() {
                return LagAtEnd::Zero;
            }
            last = LagAtEnd::Behind(
                behind
                    .iter()
                    .map(|(process, p)| format!("{process} {}/{}: {}", p.topic, p.partition, p.lag))
                    .collect(),
            );
        }
        if Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the drain waits for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Targets {
    /// Ground-truth sessions (in the topic and in ClickHouse).
    pub sessions: u64,
    /// Raw signals stored.
    pub signals: u64,
}

/// Polls until `targets` are met, `timeout` passes or `gone()` says nothing is running any
/// more; `progress` sees each poll.
pub(crate) async fn wait(
    storage: &Storage,
    sessions: &TopicObserver<SeenSession>,
    targets: Targets,
    timeout: Duration,
    gone: &mut dyn FnMut() -> bool,
    progress: &mut dyn FnMut(&Drained),
) -> Drained {
    let deadline = Instant::now() + timeout;
    let mut state = Drained::default();
    loop {
        state.stored_signals = schema::store::count_signals(&storage.reader, &storage.schema)
            .await
            .unwrap_or(state.stored_signals);
        state.stored_sessions = schema::store::count_sessions(&storage.reader, &storage.schema)
            .await
            .unwrap_or(state.stored_sessions);
        // Distinct session ids: a duplicate must not stand in for a missing session.
        state.sessions_in_topic = sessions.distinct();
        progress(&state);
        if state.sessions_in_topic >= targets.sessions
            && state.stored_signals >= targets.signals
            && state.stored_sessions >= targets.sessions
        {
            state.complete = true;
            break;
        }
        if gone() {
            state.pipeline_gone = true;
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    state.at = Some(Instant::now());
    state
}
