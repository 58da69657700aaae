//! Who made a change on whose behalf: an AI run's edits carry it in their
//! change messages beside the event, so history shows `ai:<model>` acting
//! for the person who ran the AI cell, and an AI run can be found (and
//! undone) change by change.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// `ai:<model>` for an AI run.
    pub by: String,
    /// The user the AI acts for (who ran the AI cell).
    pub on_behalf_of: String,
    /// The AI cell's run: the execution id of the AI cell's run.
    pub ai_run: String,
}

/// The attribution in a change message, if any.
pub fn attribution_in(message: &str) -> Option<Attribution> {
    let value: serde_json::Value = serde_json::from_str(message).ok()?;
    serde_json::from_value(value.get("attribution")?.clone()).ok()
}
