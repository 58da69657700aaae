//! Run all end to end: every code cell queued in notebook order as one batch,
//! stopping at the first error as Jupyter does, an interrupt included.

use cathode_tests::cells::{
    add_cell, error_of, request_interrupt, request_run, stdout_of, wait_execution, wait_state,
};
use cathode_tests::{served_notebook, TestAgent};
use schema::ExecutionState;

async fn run_all_stops_at_the_first_error_for(kernel: &str) {
    let (server, notebook, runtime, owner) = served_notebook("run all").await.unwrap();
    let _agent = TestAgent::start(&server, &notebook, &runtime, kernel).unwrap();
    let first = add_cell(&owner, "a = 1").await;
    owner
        .edit_notebook(|nb| {
            nb.create_cell(
                schema::CellType::Markdown,
                schema::Placement::End,
                "# not code",
            )
        })
        .await
        .unwrap()
        .unwrap();
    let second = add_cell(&owner, "print(a + 1)").await;
    let failing = add_cell(&owner, "1 / 0").await;
    let after = add_cell(&owner, "print('never')").await;
    let requests = owner
        .edit_notebook(|nb| nb.request_run_all("tester"))
        .await
        .unwrap()
        .unwrap();
    let cells: Vec<_> = requests.iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(
        cells,
        vec![first, second, failing.clone(), after],
        "code cells only, in order"
    );
    let r: Vec<_> = requests.into_iter().map(|(_, r)| r.request_id).collect();
    let x1 = wait_state(&owner, &r[0], &[ExecutionState::Done]).await;
    let x2 = wait_state(&owner, &r[1], &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x2), "2\n");
    let x3 = wait_state(&owner, &r[2], &[ExecutionState::Error]).await;
    let x4 = wait_state(&owner, &r[3], &[ExecutionState::Cancelled]).await;
    assert!(x1.execution_count < x2.execution_count && x2.execution_count < x3.execution_count);
    assert!(x4.outputs.is_empty() && x4.started_at_ms.is_none());

    // Fixed, run all again: everything runs, the state carried over.
    let fix = failing.clone();
    owner
        .edit_notebook(move |nb| nb.set_source(&fix, "b = a * 10"))
        .await
        .unwrap()
        .unwrap();
    let again = owner
        .edit_notebook(|nb| nb.request_run_all("tester"))
        .await
        .unwrap()
        .unwrap();
    let last = &again.last().unwrap().1.request_id;
    let x = wait_state(&owner, last, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x), "never\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_stops_at_the_first_error_on_ipykernel() {
    run_all_stops_at_the_first_error_for("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_stops_at_the_first_error_on_wasm_python() {
    run_all_stops_at_the_first_error_for("wasm-python").await;
}

/// Interrupting a cell of a run all ends it in error and cancels the rest of
/// the batch. The interrupted loop is pure Python, so both kernels keep the
/// interpreter's state.
async fn an_interrupt_during_run_all_cancels_the_rest_for(kernel: &str) {
    let (server, notebook, runtime, owner) = served_notebook("run all interrupt").await.unwrap();
    let _agent = TestAgent::start(&server, &notebook, &runtime, kernel).unwrap();
    add_cell(&owner, "a = 'kept'").await;
    add_cell(
        &owner,
        "print('looping', flush=True)\nn = 0\nwhile True:\n    n += 1",
    )
    .await;
    add_cell(&owner, "print('never')").await;
    let requests = owner
        .edit_notebook(|nb| nb.request_run_all("tester"))
        .await
        .unwrap()
        .unwrap();
    let r: Vec<_> = requests.into_iter().map(|(_, r)| r.request_id).collect();
    wait_state(&owner, &r[0], &[ExecutionState::Done]).await;
    wait_execution(&owner, &r[1], "some output", |x| !x.outputs.is_empty()).await;
    // Let the kernel get from the print into the loop (not a timing
    // assertion): an interrupt in ipykernel's output flush is another test.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    request_interrupt(&owner).await;
    let interrupted = wait_state(&owner, &r[1], &[ExecutionState::Error]).await;
    let ename = error_of(&interrupted).map(|(ename, _, _)| ename);
    assert_eq!(ename, Some("KeyboardInterrupt"), "{interrupted:?}");
    let rest = wait_state(&owner, &r[2], &[ExecutionState::Cancelled]).await;
    assert!(rest.outputs.is_empty() && rest.started_at_ms.is_none());

    let check = add_cell(&owner, "print(a, n > 0)").await;
    let r = request_run(&owner, &check).await;
    let x = wait_state(&owner, &r, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x), "kept True\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_run_all_cancels_the_rest_on_ipykernel() {
    an_interrupt_during_run_all_cancels_the_rest_for("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_run_all_cancels_the_rest_on_wasm_python() {
    an_interrupt_during_run_all_cancels_the_rest_for("wasm-python").await;
}
