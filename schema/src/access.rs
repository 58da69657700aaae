//! Small typed readers over Automerge values, shared by both documents.
//! Private to the crate: no caller outside `schema/` names a field.

use crate::error::{Result, SchemaError};
use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value};

pub(crate) fn get_str<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Result<Option<String>> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    })
}

pub(crate) fn get_i64<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Result<Option<i64>> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            ScalarValue::Timestamp(t) => Some(*t),
            _ => None,
        },
        _ => None,
    })
}

pub(crate) fn get_obj<R: ReadDoc>(
    doc: &R,
    obj: &ObjId,
    key: &str,
    kind: ObjType,
) -> Result<Option<ObjId>> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Object(t), id)) if t == kind => Some(id),
        _ => None,
    })
}

pub(crate) fn require_obj<R: ReadDoc>(
    doc: &R,
    obj: &ObjId,
    key: &'static str,
    kind: ObjType,
) -> Result<ObjId> {
    get_obj(doc, obj, key, kind)?.ok_or(SchemaError::NotInitialised(key))
}

pub(crate) fn heads_to_strings(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn heads_from_string(s: &str) -> Result<Vec<ChangeHash>> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().map_err(|_| SchemaError::BadHeads(p.to_owned())))
        .collect()
}

/// Check the root's version and kind fields, so a newer document is refused
/// before anything reads (or worse, writes) a layout this binary doesn't know.
pub(crate) fn check_root<R: ReadDoc>(doc: &R, expected_kind: &'static str) -> Result<()> {
    let root = automerge::ROOT;
    let version = get_i64(doc, &root, "schema_version")?
        .ok_or(SchemaError::NotInitialised("schema_version"))?;
    let version = u64::try_from(version).map_err(|_| SchemaError::Malformed {
        field: "schema_version",
    })?;
    if version > crate::SCHEMA_VERSION {
        return Err(SchemaError::NewerSchema {
            found: version,
            supported: crate::SCHEMA_VERSION,
        });
    }
    let kind = get_str(doc, &root, "kind")?.ok_or(SchemaError::NotInitialised("kind"))?;
    if kind != expected_kind {
        return Err(SchemaError::WrongKind {
            found: kind,
            expected: expected_kind,
        });
    }
    Ok(())
}
