//! Timing marks for `bench-agent`'s breakdown of one run: where a run
//! request's time goes between the requester, the server, the agent and
//! the kernel. Off unless the log filter enables the `cathode_timing`
//! target at trace level (the benchmark does); a disabled mark costs one
//! filter check. Wall-clock microseconds, so marks from the client, the
//! server and the agent on one machine line up.

/// The log target the marks go to.
pub const TARGET: &str = "cathode_timing";

/// Microseconds since the Unix epoch.
pub fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// Record that `stage` happened now for run request `key`.
#[macro_export]
macro_rules! timing_mark {
    ($stage:expr, $key:expr) => {
        if tracing::enabled!(target: "cathode_timing", tracing::Level::TRACE) {
            tracing::trace!(
                target: "cathode_timing",
                "mark stage={} key={} us={}",
                $stage,
                $key,
                $crate::timing::wall_us()
            );
        }
    };
}
