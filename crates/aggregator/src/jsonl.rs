//! The sessionizer over a file of signals, one JSON object per line (`evbench sessionize`).

use std::io::{BufRead, BufWriter, Write};

use serde::Serialize;

use crate::Result;
use crate::config::SessionizerConfig;
use crate::sessionizer::{Output, Sessionizer, Source};

/// Counts of a [`sessionize_jsonl`] run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Non-blank lines read (one signal each).
    pub signals: u64,
    /// Sessions written.
    pub sessions: u64,
    /// Dead letters (written to the dead-letter output when one was given).
    pub dead_letters: u64,
    /// Exact duplicates ignored.
    pub duplicates: u64,
    /// Distinct chargers seen.
    pub chargers: u64,
}

/// One dead letter as a JSON line of the dead-letter output.
#[derive(Serialize)]
struct DeadLetterLine<'a> {
    /// 1-based line number of the rejected signal in the input.
    line: i64,
    reason: &'a str,
    /// The line as read (lossy UTF-8), or its re-encoding when `reencoded`.
    payload: std::borrow::Cow<'a, str>,
    reencoded: bool,
}

/// How often (in lines) the file's event time is passed to [`Sessionizer::advance`].
const ADVANCE_EVERY: u64 = 4096;

/// Sessionizes a JSON-lines file of signals: writes one session per line to `sessions_out` and,
/// when given, one dead letter per line to `dead_out`
/// (`{"line":N,"reason":"...","payload":"...","reencoded":false}`). Blank lines are skipped.
/// Positions are line numbers (partition 0), so a file is replayed exactly like a partition.
///
/// The largest timestamp read so far drives [`Sessionizer::advance`] every few thousand lines;
/// at the end [`Sessionizer::finish`] settles everything.
pub fn sessionize_jsonl(
    mut input: impl BufRead,
    sessions_out: impl Write,
    dead_out: Option<impl Write>,
    config: SessionizerConfig,
) -> Result<Summary> {
    let mut sessionizer = Sessionizer::new(config)?;
    let mut sessions_out = BufWriter::new(sessions_out);
    let mut dead_out = dead_out.map(BufWriter::new);
    let mut line = Vec::with_capacity(256);
    let mut outputs = Vec::new();
    let mut line_no = 0i64;
    let mut signals = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let record = line.trim_ascii();
        if record.is_empty() {
            continue;
        }
        signals += 1;
        let source = Source {
            partition: 0,
            offset: line_no,
        };
        sessionizer.push(record, source, &mut |o| outputs.push(o));
        if signals.is_multiple_of(ADVANCE_EVERY)
            && let Some(t) = sessionizer.stream_time()
        {
            sessionizer.advance(t, &mut |o| outputs.push(o));
        }
        write_outputs(&mut outputs, &mut sessions_out, dead_out.as_mut())?;
    }
    sessionizer.finish(&mut |o| outputs.push(o));
    write_outputs(&mut outputs, &mut sessions_out, dead_out.as_mut())?;
    sessions_out.flush()?;
    if let Some(d) = dead_out.as_mut() {
        d.flush()?;
    }
    let stats = sessionizer.stats();
    Ok(Summary {
        signals,
        sessions: stats.sessions,
        dead_letters: stats.dead_letters,
        duplicates: stats.duplicates,
        chargers: sessionizer.chargers() as u64,
    })
}

fn write_outputs(
    outputs: &mut Vec<Output>,
    sessions_out: &mut impl Write,
    mut dead_out: Option<&mut impl Write>,
) -> Result<()> {
    for output in outputs.drain(..) {
        match output {
            Output::Session { session, .. } => {
                serde_json::to_writer(&mut *sessions_out, &session)?;
                sessions_out.write_all(b"\n")?;
            }
            Output::DeadLetter {
                source,
                reason,
                payload,
                reencoded,
                ..
            } => {
                if let Some(d) = dead_out.as_mut() {
                    let line = DeadLetterLine {
                        line: source.offset,
                        reason: &reason,
                        payload: String::from_utf8_lossy(&payload),
                        reencoded,
                    };
                    serde_json::to_writer(&mut **d, &line)?;
                    d.write_all(b"\n")?;
                }
            }
        }
    }
    Ok(())
}
