//! Events and ground truth as JSON lines, for `evbench simulate --out/--truth`.

use std::io::{BufWriter, Write};

use crate::{FleetConfig, Result, Simulator, Summary};

/// Runs `config` to completion, unpaced, writing one event JSON per line to `events_out` and,
/// when given, one session JSON per line to `truth_out` (in the order of departures).
///
/// Both writers are buffered here and flushed before returning. The same arguments always give
/// the same bytes. Without truth, pass `None::<&mut std::io::Sink>`.
pub fn write_jsonl(
    config: &FleetConfig,
    events_out: &mut impl Write,
    truth_out: Option<&mut impl Write>,
) -> Result<Summary> {
    let mut sim = Simulator::new(config.clone())?;
    sim.record_truth(truth_out.is_some());
    let mut events = BufWriter::with_capacity(1 << 16, events_out);
    let mut truth = truth_out.map(|w| BufWriter::with_capacity(1 << 16, w));
    let mut buf = Vec::with_capacity(256);
    let mut failed = None;
    while sim.next_event(&mut buf).is_some() {
        buf.push(b'\n');
        events.write_all(&buf)?;
        if let Some(truth) = truth.as_mut()
            && sim.pending_sessions() > 0
        {
            sim.take_completed_sessions(|session| {
                if failed.is_none() {
                    failed = write_line(truth, &session).err();
                }
            });
            if let Some(e) = failed.take() {
                return Err(e);
            }
        }
    }
    events.flush()?;
    if let Some(truth) = truth.as_mut() {
        truth.flush()?;
    }
    Ok(sim.summary())
}

fn write_line(out: &mut impl Write, session: &events::Session) -> Result<()> {
    serde_json::to_writer(&mut *out, session)?;
    out.write_all(b"\n")?;
    Ok(())
}
