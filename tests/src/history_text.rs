//! A document's whole history as text, to search for a value that must
//! never have been written. Saved documents and the server's stored
//! changes are compressed, so a byte search there can miss what is in
//! them; the decoded changes cannot.

use cathode_client::NotebookClient;

/// Every change of both of a notebook's documents, decoded.
pub async fn decoded_history(client: &NotebookClient) -> String {
    fn decode(doc: &schema::automerge::Automerge) -> String {
        doc.clone()
            .get_changes(&[])
            .into_iter()
            .map(|c| format!("{:?}\n", c.clone().decode()))
            .collect()
    }
    let notebook = client
        .notebook(|nb| decode(nb.automerge()))
        .await
        .unwrap_or_default();
    let runtime = client
        .runtime(|rt| decode(rt.automerge()))
        .await
        .unwrap_or_default();
    notebook + &runtime
}
