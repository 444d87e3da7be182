//! `faults-happened`: every process fault of the scenario was made to happen and undone (a fault
//! that silently did not happen would make a run look better than it is).

use crate::checks::Evidence;
use crate::report::Check;

pub(super) fn happened(evidence: &Evidence) -> Option<Check> {
    if evidence.process_faults == 0 {
        return None;
    }
    let failed = &evidence.fault_errors;
    Some(Check {
        name: "faults-happened".into(),
        passed: failed.is_empty(),
        detail: if failed.is_empty() {
            format!(
                "{} process faults made to happen and undone on time",
                evidence.process_faults
            )
        } else {
            format!(
                "{} of {} failed: {}",
                failed.len(),
                evidence.process_faults,
                failed.join("; ")
            )
        },
    })
}
