//! Identifiers, as distinct types so a cell id is never passed where an
//! execution id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(format!(concat!($prefix, "{}"), uuid::Uuid::new_v4().simple()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

/// Whether `s` may name a cell, an execution or a session: what nbformat
/// allows for cell ids (`^[a-zA-Z0-9-_]+$`, at most 64 characters), which
/// every id cathode makes satisfies. The layout refuses entries under any
/// other key.
pub fn is_valid_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

string_id!(
    /// A cell, stable for the cell's life whatever its position.
    CellId, "c-"
);
string_id!(
    /// One press of "run" on a cell.
    RequestId, "r-"
);
string_id!(
    /// One execution record in the runtime document.
    ExecutionId, "x-"
);
string_id!(
    /// One runtime agent's tenure on a notebook.
    SessionId, "s-"
);
