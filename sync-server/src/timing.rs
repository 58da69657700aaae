//! Timing marks for `bench-agent`'s breakdown (see the runtime agent's
//! `timing.rs`): when a room received a batch, relayed it and committed
//! it, keyed by the events of the changes in it. Off unless the log filter
//! enables the `cathode_timing` target at trace level.

/// Microseconds since the Unix epoch.
pub fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

pub fn enabled() -> bool {
    tracing::enabled!(target: "cathode_timing", tracing::Level::TRACE)
}

/// Record that `stage` happened at `us` for the batch whose changes carry
/// `events`.
pub fn mark(stage: &str, events: &str, us: u64) {
    tracing::trace!(target: "cathode_timing", "mark stage={stage} key={events} us={us}");
}
