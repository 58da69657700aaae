//! Behaviour of the two documents through their typed functions.

use schema::automerge::sync::SyncDoc;
use schema::automerge::{sync, Automerge};
use schema::*;

fn replica_of(doc: &Automerge) -> Automerge {
    let mut fork = doc.fork();
    fork.set_actor(schema::automerge::ActorId::random());
    fork
}

fn sync_pair(a: &mut Automerge, b: &mut Automerge) {
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    for _ in 0..20 {
        let ma = a.generate_sync_message(&mut sa);
        let mb = b.generate_sync_message(&mut sb);
        if ma.is_none() && mb.is_none() {
            return;
        }
        if let Some(m) = ma {
            b.receive_sync_message(&mut sb, m).unwrap();
        }
        if let Some(m) = mb {
            a.receive_sync_message(&mut sa, m).unwrap();
        }
    }
}

#[test]
fn cells_create_move_delete_in_order() {
    let mut nb = NotebookDoc::create("n1").unwrap();
    let a = nb
        .create_cell(CellType::Code, Placement::End, "a = 1")
        .unwrap();
    let b = nb
        .create_cell(CellType::Markdown, Placement::End, "# b")
        .unwrap();
    let c = nb
        .create_cell(CellType::Code, Placement::Start, "c")
        .unwrap();
    assert_eq!(
        nb.cell_ids().unwrap(),
        vec![c.clone(), a.clone(), b.clone()]
    );
    nb.move_cell(&c, Placement::After(b.clone())).unwrap();
    assert_eq!(
        nb.cell_ids().unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    nb.move_cell(&c, Placement::Before(a.clone())).unwrap();
    assert_eq!(
        nb.cell_ids().unwrap(),
        vec![c.clone(), a.clone(), b.clone()]
    );
    nb.delete_cell(&a).unwrap();
    assert_eq!(nb.cell_ids().unwrap(), vec![c.clone(), b.clone()]);
    assert!(matches!(nb.source(&a), Err(SchemaError::NoSuchCell(_))));
    nb.splice_source(&b, 3, 0, "ee").unwrap();
    assert_eq!(nb.source(&b).unwrap(), "# bee");
    assert!(nb.splice_source(&b, 99, 0, "x").is_err());
    nb.set_source(&b, "# beetle").unwrap();
    assert_eq!(nb.source(&b).unwrap(), "# beetle");
    nb.set_cell_type(&b, CellType::Raw).unwrap();
    nb.set_metadata(&b, "tags", Some(&serde_json::json!(["x"])))
        .unwrap();
    let cell = nb.cell(&b).unwrap();
    assert_eq!(cell.cell_type, CellType::Raw);
    assert_eq!(cell.metadata["tags"], serde_json::json!(["x"]));
}

#[test]
fn run_request_pins_the_source_seen() {
    let mut nb = NotebookDoc::create("n1").unwrap();
    let a = nb
        .create_cell(CellType::Code, Placement::End, "print(1)")
        .unwrap();
    let req = nb.request_execution(&a, "ada").unwrap();
    nb.set_source(&a, "print(2)").unwrap();
    assert_eq!(nb.source_at(&a, &req.heads).unwrap(), "print(1)");
    let stored = nb.cell(&a).unwrap().run_request.unwrap();
    assert_eq!(stored, req);
}

#[test]
fn history_reads_back_typed_events_in_order() {
    let mut nb = NotebookDoc::create("n1").unwrap();
    let a = nb.create_cell(CellType::Code, Placement::End, "x").unwrap();
    nb.splice_source(&a, 1, 0, "y").unwrap();
    nb.delete_cell(&a).unwrap();
    let events: Vec<_> = history(nb.automerge())
        .into_iter()
        .map(|h| h.event.unwrap().name())
        .collect();
    assert_eq!(
        events,
        vec![
            "NotebookCreated",
            "CellCreated",
            "SourceEdited",
            "CellDeleted"
        ]
    );
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    use schema::automerge::transaction::Transactable;
    let nb = NotebookDoc::create("n1").unwrap();
    let mut raw = nb.into_automerge();
    let mut tx = raw.transaction();
    tx.put(schema::automerge::ROOT, "schema_version", 99_i64)
        .unwrap();
    tx.commit();
    let err = NotebookDoc::from_automerge(raw).unwrap_err();
    assert!(matches!(
        err,
        SchemaError::NewerSchema {
            found: 99,
            supported: 1
        }
    ));
    assert!(err.to_string().contains("newer cathode"));
    let runtime = RuntimeDoc::create("n1").unwrap().into_automerge();
    assert!(matches!(
        NotebookDoc::from_automerge(runtime),
        Err(SchemaError::WrongKind { .. })
    ));
    assert!(matches!(
        NotebookDoc::from_automerge(Automerge::new()),
        Err(SchemaError::NotInitialised(_))
    ));
}

#[test]
fn concurrent_moves_of_one_cell_never_duplicate_it() {
    let mut base = NotebookDoc::create("n1").unwrap();
    let ids: Vec<_> = (0..5)
        .map(|i| {
            base.create_cell(CellType::Code, Placement::End, &i.to_string())
                .unwrap()
        })
        .collect();
    let mut a = NotebookDoc::from_automerge(replica_of(base.automerge())).unwrap();
    let mut b = NotebookDoc::from_automerge(replica_of(base.automerge())).unwrap();
    a.move_cell(&ids[0], Placement::End).unwrap();
    b.move_cell(&ids[0], Placement::After(ids[2].clone()))
        .unwrap();
    sync_pair(a.automerge_mut(), b.automerge_mut());
    assert_eq!(a.cell_ids().unwrap(), b.cell_ids().unwrap());
    let mut got = a.cell_ids().unwrap();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn lease_claims_renewals_and_displacement() {
    let mut rt = RuntimeDoc::create("n1").unwrap();
    let s1 = SessionId::random();
    let s2 = SessionId::random();
    let claim = rt
        .claim_lease(&s1, "agent-1", "wasm-python", 1_000, 10_000)
        .unwrap();
    assert!(claim.displaced.is_none());
    assert_eq!(
        rt.renew_lease(&s1, 5_000, 10_000).unwrap().expires_at_ms,
        15_000
    );
    let claim2 = rt
        .claim_lease(&s2, "agent-2", "python3", 6_000, 10_000)
        .unwrap();
    assert_eq!(claim2.displaced.unwrap().session_id, s1);
    assert!(matches!(
        rt.renew_lease(&s1, 7_000, 10_000),
        Err(SchemaError::NotLeaseHolder(_))
    ));
    rt.set_session_status(&s2, SessionStatus::Idle).unwrap();
    assert_eq!(
        rt.session(&s2).unwrap().unwrap().status,
        SessionStatus::Idle
    );
    rt.release_lease(&s2).unwrap();
    assert!(rt.lease().unwrap().is_none());
}

#[test]
fn executions_and_outputs() {
    let mut rt = RuntimeDoc::create("n1").unwrap();
    let cell = CellId::random();
    let x = rt
        .queue_execution(&cell, &schema::RunRequest::new("ada", vec![]), 10)
        .unwrap();
    assert_eq!(rt.execution(&x).unwrap().state, ExecutionState::Queued);
    rt.start_execution(&x, 1, 11).unwrap();
    let out = OutputManifest::Stream {
        name: StreamName::Stdout,
        text: "hi\n".into(),
        truncated: None,
    };
    rt.append_output(&x, &out).unwrap();
    rt.replace_output(
        &x,
        0,
        &OutputManifest::Stream {
            name: StreamName::Stdout,
            text: "hi\nthere\n".into(),
            truncated: None,
        },
    )
    .unwrap();
    assert!(rt.replace_output(&x, 5, &out).is_err());
    rt.finish_execution(&x, ExecutionState::Done, 12).unwrap();
    let rec = rt.execution(&x).unwrap();
    assert_eq!(rec.state, ExecutionState::Done);
    assert_eq!(rec.execution_count, Some(1));
    assert_eq!(rec.outputs.len(), 1);
    rt.clear_outputs(&x).unwrap();
    assert!(rt.execution(&x).unwrap().outputs.is_empty());
    assert_eq!(rt.executions().unwrap().len(), 1);
}

/// A press of "run" made without seeing a run all is the same intent as the
/// run all's request for that cell; one made after seeing it is a re-run.
/// Both ways a request can be made (a single press, run all) count.
#[test]
fn a_press_concurrent_with_run_all_did_not_see_it() {
    let mut base = NotebookDoc::create("n1").unwrap();
    let cell = base
        .create_cell(CellType::Code, Placement::End, "print(1)")
        .unwrap();
    let mut alice = NotebookDoc::from_automerge(replica_of(base.automerge())).unwrap();
    let mut bob = NotebookDoc::from_automerge(replica_of(base.automerge())).unwrap();
    let all = alice.request_run_all("alice").unwrap();
    let (_, ran) = all.into_iter().find(|(c, _)| c == &cell).unwrap();
    let concurrent = bob.request_execution(&cell, "bob").unwrap();
    sync_pair(alice.automerge_mut(), bob.automerge_mut());
    let prior = PriorRequest::from(&ran);
    assert!(!alice.request_saw(&concurrent, &prior));
    let after = alice.request_execution(&cell, "alice").unwrap();
    assert!(alice.request_saw(&after, &prior));

    // And the other way round: a run all concurrent with a single press.
    let single = PriorRequest::from(&after);
    let mut carol = NotebookDoc::from_automerge(replica_of(base.automerge())).unwrap();
    let (_, concurrent_all) = carol
        .request_run_all("carol")
        .unwrap()
        .into_iter()
        .find(|(c, _)| c == &cell)
        .unwrap();
    sync_pair(alice.automerge_mut(), carol.automerge_mut());
    assert!(!alice.request_saw(&concurrent_all, &single));
    let (_, later_all) = alice
        .request_run_all("alice")
        .unwrap()
        .into_iter()
        .find(|(c, _)| c == &cell)
        .unwrap();
    assert!(alice.request_saw(&later_all, &PriorRequest::from(&concurrent_all)));
}

#[test]
fn update_display_reaches_every_shown_output_with_that_id() {
    use schema::{MimePayload, OutputManifest, RunRequest};
    let mut rt = RuntimeDoc::create("n1").unwrap();
    let display = |text: &str, id: Option<&str>| OutputManifest::DisplayData {
        data: [(
            "text/plain".to_owned(),
            MimePayload::Inline { value: text.into() },
        )]
        .into(),
        metadata: serde_json::Value::Null,
        display_id: id.map(str::to_owned),
    };
    let (a, b) = (CellId::random(), CellId::random());
    let first = rt
        .queue_execution(&a, &RunRequest::new("ada", vec![]), 1)
        .unwrap();
    rt.start_execution(&first, 1, 2).unwrap();
    rt.append_output(&first, &display("old", Some("bar")))
        .unwrap();
    rt.append_output(&first, &display("other", None)).unwrap();
    rt.finish_execution(&first, ExecutionState::Done, 3)
        .unwrap();
    let second = rt
        .queue_execution(&b, &RunRequest::new("ada", vec![]), 4)
        .unwrap();
    rt.start_execution(&second, 2, 5).unwrap();
    rt.append_output(&second, &display("old too", Some("bar")))
        .unwrap();
    // A run queued but never started does not hide the one before.
    rt.queue_execution(&a, &RunRequest::new("ada", vec![]), 6)
        .unwrap();

    assert_eq!(
        rt.update_display("bar", &display("mid", Some("bar")), Some(&second))
            .unwrap(),
        1
    );
    assert_eq!(
        rt.update_display("bar", &display("new", Some("bar")), None)
            .unwrap(),
        2
    );
    assert_eq!(
        rt.update_display("nowhere", &display("x", Some("nowhere")), None)
            .unwrap(),
        0
    );
    let shown = rt.shown_executions().unwrap();
    assert_eq!(shown[&a].execution_id, first);
    assert_eq!(shown[&a].outputs[0], display("new", Some("bar")));
    assert_eq!(shown[&a].outputs[1], display("other", None));
    assert_eq!(shown[&b].outputs[0], display("new", Some("bar")));
    // One cell's shown execution, read alone, follows the same rule.
    for cell in [&a, &b] {
        assert_eq!(
            rt.shown_execution(cell).unwrap().as_ref(),
            Some(&shown[cell])
        );
    }
}

#[test]
fn an_execution_is_found_by_its_request() {
    let mut rt = RuntimeDoc::create("n1").unwrap();
    let cell = CellId::from("c1");
    let first = RunRequest::new("ada", vec![]);
    let second = RunRequest::new("ada", vec![]);
    let x1 = rt.queue_execution(&cell, &first, 1).unwrap();
    // Re-queued by a later agent (after a restart), the latest wins.
    let x1b = rt.queue_execution(&cell, &first, 2).unwrap();
    let x2 = rt.queue_execution(&cell, &second, 3).unwrap();
    let found = |r: &RunRequest| {
        rt.execution_for_request(&r.request_id)
            .unwrap()
            .map(|x| x.execution_id)
    };
    assert_ne!(found(&first), Some(x1));
    assert_eq!(found(&first), Some(x1b));
    assert_eq!(found(&second), Some(x2));
    assert_eq!(found(&RunRequest::new("ada", vec![])), None);
    assert_eq!(rt.shown_execution(&cell).unwrap(), None, "none started");
}

#[test]
fn a_rewrite_seen_at_older_heads_keeps_what_was_typed_since() {
    let mut nb = NotebookDoc::create("n1").unwrap();
    let c = nb
        .create_cell(CellType::Code, Placement::End, "def f(x):\n    return x\n")
        .unwrap();
    let seen = nb.heads();
    // Someone types at the end after the writer read the cell.
    let len = nb.source(&c).unwrap().chars().count();
    nb.splice_source(&c, len, 0, "# checked by ada\n").unwrap();
    nb.set_attribution(Some(Attribution {
        by: "ai:m".into(),
        on_behalf_of: "ada".into(),
        ai_run: "x-1".into(),
    }));
    nb.rewrite_source_seen_at(&c, &seen, "def f(x):\n    return x * 2\n")
        .unwrap();
    nb.set_attribution(None);
    assert_eq!(
        nb.source(&c).unwrap(),
        "def f(x):\n    return x * 2\n# checked by ada\n"
    );
    let last = history(nb.automerge()).into_iter().last().unwrap();
    assert_eq!(last.attribution.unwrap().ai_run, "x-1");
    assert!(matches!(
        last.event,
        Some(DocumentEvent::SourceEdited { .. })
    ));
}
