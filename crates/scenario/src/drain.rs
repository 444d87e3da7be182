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
        state.stored_signals = schema::store::count_signals(&storage.admin, &storage.schema)
            .await
            .unwrap_or(state.stored_signals);
        state.stored_sessions = schema::store::count_sessions(&storage.admin, &storage.schema)
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
