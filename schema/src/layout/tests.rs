//! Every typed writer's changes pass the checker; writes outside the
//! layout do not.

use super::*;
use crate::{
    CellType, ControlKind, ExecutionState, InputRequest, NotebookDoc, OutputManifest, Placement,
    RuntimeDoc, SessionId, SessionStatus, StreamName,
};
use automerge::transaction::Transactable;
use automerge::ROOT;

/// Replay `doc`'s changes after the server-created first one into a fresh
/// copy, checking each against the document as it was before it.
fn check_all(doc: &Automerge, kind: DocKind) {
    let changes = doc.get_changes(&[]);
    let mut replay = Automerge::new();
    replay.apply_changes(vec![changes[0].clone()]).unwrap();
    let mut checker = ChangeChecker::new(kind);
    for change in &changes[1..] {
        checker
            .check(&replay, change)
            .unwrap_or_else(|e| panic!("{:?} refused: {e}", change.message()));
        replay.apply_changes(vec![change.clone()]).unwrap();
    }
    // And checked in one go against the first change alone, as a batch.
    let mut first = Automerge::new();
    first.apply_changes(vec![changes[0].clone()]).unwrap();
    let mut checker = ChangeChecker::new(kind);
    for change in &changes[1..] {
        checker.check(&first, change).unwrap();
    }
}

#[test]
fn every_notebook_writer_passes() {
    let mut nb = NotebookDoc::create("nb-1").unwrap();
    let a = nb
        .create_cell(CellType::Code, Placement::End, "a = 1")
        .unwrap();
    let b = nb
        .create_cell(CellType::Markdown, Placement::Start, "# b")
        .unwrap();
    nb.move_cell(&a, Placement::Before(b.clone())).unwrap();
    nb.splice_source(&a, 1, 2, "bc").unwrap();
    nb.set_source(&b, "# title\n\nbody").unwrap();
    nb.set_cell_type(&b, CellType::Raw).unwrap();
    nb.set_metadata(&a, "tags", Some(&serde_json::json!(["x"])))
        .unwrap();
    nb.set_metadata(&a, "tags", None).unwrap();
    let spec = serde_json::json!({"name": "python3", "display_name": "Python 3"});
    nb.set_notebook_metadata("kernelspec", Some(&spec)).unwrap();
    nb.set_notebook_metadata("kernelspec", None).unwrap();
    let attachments = serde_json::json!({"a.png": {"image/png": "AAAA"}});
    nb.set_attachments(&b, Some(&attachments)).unwrap();
    nb.set_attachments(&b, None).unwrap();
    let clear = crate::OutputsCleared {
        execution_id: crate::ExecutionId::random(),
        outputs: 2,
    };
    nb.clear_outputs(&[(a.clone(), clear)]).unwrap();
    nb.import_cells(&[crate::ImportedCell {
        id: crate::CellId::from("imported-1"),
        cell_type: CellType::Markdown,
        source: "# imported".into(),
        metadata: [("tags".to_owned(), serde_json::json!(["t"]))].into(),
        attachments: Some(attachments),
    }])
    .unwrap();
    nb.request_execution(&a, "ada").unwrap();
    nb.request_run_all("ada").unwrap();
    nb.request_control(ControlKind::Interrupt, "ada").unwrap();
    nb.request_control(
        ControlKind::UndoAiRun {
            ai_run: crate::ExecutionId::random(),
        },
        "ada",
    )
    .unwrap();
    nb.answer_approval(
        &crate::ExecutionId::random(),
        0,
        crate::ApprovalDecision::Deny,
        "ada",
    )
    .unwrap();
    nb.answer_input(&crate::ExecutionId::random(), 0, "42", "ada")
        .unwrap();
    let sealed = crate::SealedAnswer {
        ephemeral_key: "k".into(),
        nonce: "n".into(),
        ciphertext: "c".into(),
    };
    nb.answer_input_sealed(&crate::ExecutionId::random(), 1, sealed, "ada")
        .unwrap();
    nb.delete_cell(&b).unwrap();
    check_all(nb.automerge(), DocKind::Notebook);
}

#[test]
fn every_runtime_writer_passes() {
    let mut rt = RuntimeDoc::create("nb-1").unwrap();
    let session = SessionId::random();
    rt.claim_lease(&session, "agent", "python3", 1_000, 30_000)
        .unwrap();
    rt.renew_lease(&session, 2_000, 30_000).unwrap();
    rt.set_session_status(&session, SessionStatus::Idle)
        .unwrap();
    let cell = crate::CellId::random();
    let x = rt
        .queue_execution(
            &cell,
            &crate::RunRequest::new("ada", vec![]).in_batch("b-1"),
            3_000,
        )
        .unwrap();
    rt.start_execution(&x, 1, 3_001).unwrap();
    let out = OutputManifest::Stream {
        name: StreamName::Stdout,
        text: "hi".into(),
        truncated: None,
    };
    rt.append_output(&x, &out).unwrap();
    rt.replace_output(&x, 0, &out).unwrap();
    rt.set_input_request(
        &x,
        Some(&InputRequest {
            seq: 0,
            prompt: "?".into(),
            password: true,
            asked_at_ms: 1,
            sealing_key: Some("BASE64".into()),
        }),
    )
    .unwrap();
    rt.set_input_request(&x, None).unwrap();
    rt.clear_outputs(&x).unwrap();
    rt.finish_execution(&x, ExecutionState::Done, 3_002)
        .unwrap();
    let y = rt
        .queue_execution(
            &cell,
            &crate::RunRequest::new("ada", vec![]).in_batch("b-1"),
            4_000,
        )
        .unwrap();
    let _ = y;
    rt.cancel_queued_batch("b-1", 4_001).unwrap();
    let headless = crate::RunRequest {
        allow_stdin: false,
        ..crate::RunRequest::new("ada", vec![])
    };
    let z = rt.queue_execution(&cell, &headless, 4_500).unwrap();
    rt.start_execution(&z, 2, 4_501).unwrap();
    let display = |text: &str| OutputManifest::DisplayData {
        data: [(
            "text/plain".to_owned(),
            crate::MimePayload::Inline { value: text.into() },
        )]
        .into(),
        metadata: serde_json::Value::Null,
        display_id: Some("d-1".into()),
    };
    rt.append_output(&z, &display("0%")).unwrap();
    assert_eq!(rt.update_display("d-1", &display("100%"), None).unwrap(), 1);
    let ask = crate::ApprovalRequest {
        seq: 0,
        call_id: "c".into(),
        tool: "execute_cell".into(),
        arguments: serde_json::json!({}),
        cell_id: None,
        asked_at_ms: 1,
    };
    rt.set_approval_request(&z, Some(&ask)).unwrap();
    rt.set_approval_request(&z, None).unwrap();
    rt.mark_control_handled("k-1").unwrap();
    rt.import_executions(
        &[crate::ImportedExecution {
            cell_id: cell.clone(),
            execution_count: Some(7),
            outputs: vec![out.clone()],
        }],
        5_000,
    )
    .unwrap();
    rt.release_lease(&session).unwrap();
    check_all(rt.automerge(), DocKind::Runtime);
}

/// A change made directly on a replica of `doc`, bypassing the typed API.
fn rogue(
    doc: &Automerge,
    write: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Change {
    let mut fork = doc.fork();
    fork.set_actor(automerge::ActorId::random());
    let mut tx = fork.transaction();
    write(&mut tx);
    let hash = tx.commit().0.unwrap();
    fork.get_change_by_hash(&hash).unwrap().clone()
}

fn refused(doc: &Automerge, kind: DocKind, change: &Change) -> String {
    match ChangeChecker::new(kind).check(doc, change) {
        Err(SchemaError::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn writes_outside_the_layout_are_refused() {
    let mut nb = NotebookDoc::create("nb-1").unwrap();
    let a = nb.create_cell(CellType::Code, Placement::End, "x").unwrap();
    let doc = nb.automerge();
    let kind = DocKind::Notebook;
    let cells = doc.get(ROOT, "cells").unwrap().unwrap().1;
    let cell = doc.get(&cells, a.as_str()).unwrap().unwrap().1;
    let source = doc.get(&cell, "source").unwrap().unwrap().1;

    let why = refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(ROOT, "schema_version", 999).unwrap();
        }),
    );
    assert!(why.contains("schema_version"), "{why}");
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(ROOT, "kind", "runtime").unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(ROOT, "notebook_id", "nb-2").unwrap();
        }),
    );
    let why = refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put_object(ROOT, "cells", ObjType::Map).unwrap();
        }),
    );
    assert!(why.contains("replaced"), "{why}");
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.delete(ROOT, "cells").unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(ROOT, "intruder", "was here").unwrap();
        }),
    );
    // A cell that is not a map, a cell id that is not an id, a field that
    // does not exist, a source that is not text.
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(&cells, "c-new", "not a map").unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put_object(&cells, "../x", ObjType::Map).unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(&cell, "owner", "me").unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(&cell, "source", "flat string").unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(&cell, "cell_type", 3).unwrap();
        }),
    );
    // Objects nested where none belong, marks and counters.
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.insert_object(&source, 0, ObjType::Map).unwrap();
        }),
    );
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(&cell, "position", automerge::ScalarValue::counter(1))
                .unwrap();
        }),
    );
    // Objects created inside the rogue change are followed too.
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            let c = tx.put_object(&cells, "c-deep", ObjType::Map).unwrap();
            let m = tx.put_object(&c, "metadata", ObjType::Map).unwrap();
            tx.put_object(&m, "nested", ObjType::List).unwrap();
        }),
    );
    // Notebook metadata is a map of JSON strings: nothing nested, and the
    // map itself is never replaced.
    let meta = doc.get(ROOT, "metadata").unwrap().unwrap().1;
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put_object(&meta, "kernelspec", ObjType::Map).unwrap();
        }),
    );
    let why = refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put_object(ROOT, "metadata", ObjType::Map).unwrap();
        }),
    );
    assert!(why.contains("replaced"), "{why}");
    refused(
        doc,
        kind,
        &rogue(doc, |tx| {
            tx.put(&cell, "attachments", 5).unwrap();
        }),
    );
    // The runtime document's layout differs.
    refused(
        doc,
        DocKind::Runtime,
        &rogue(doc, |tx| {
            tx.put(ROOT, "lease", 5).unwrap();
        }),
    );
}

#[test]
fn an_edit_inside_a_deleted_cell_still_resolves() {
    let mut nb = NotebookDoc::create("nb-1").unwrap();
    let a = nb
        .create_cell(CellType::Code, Placement::End, "abc")
        .unwrap();
    // Another peer types into the cell, concurrently with its deletion here.
    let mut other = nb.automerge().fork();
    other.set_actor(automerge::ActorId::random());
    let mut other = NotebookDoc::from_automerge(other).unwrap();
    other.splice_source(&a, 3, 0, "d").unwrap();
    let typed = other.automerge().get_last_local_change().unwrap().clone();
    nb.delete_cell(&a).unwrap();
    ChangeChecker::new(DocKind::Notebook)
        .check(nb.automerge(), &typed)
        .unwrap();
}

#[test]
fn run_requests_are_noticed_and_edits_are_not() {
    let mut nb = NotebookDoc::create("nb-1").unwrap();
    let a = nb.create_cell(CellType::Code, Placement::End, "1").unwrap();
    let base = nb.automerge().clone();
    let mut checker = ChangeChecker::new(DocKind::Notebook);
    let seen = |nb: &NotebookDoc, checker: &mut ChangeChecker| {
        let heads = base.get_heads();
        for change in nb.automerge().get_changes(&heads) {
            checker.check(&base, &change).unwrap();
        }
        checker.take_run_request_seen()
    };
    nb.set_source(&a, "1 + 1").unwrap();
    assert!(!seen(&nb, &mut checker), "an edit is not a run request");
    nb.request_execution(&a, "ada").unwrap();
    assert!(seen(&nb, &mut checker));
    assert!(!checker.take_run_request_seen(), "taking clears it");
}
