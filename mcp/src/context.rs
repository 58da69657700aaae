//! `read_context`: a notebook as a model reads it, every cell in order
//! with its outputs summarised as the agent's AI sees them.

use cathode_client::NotebookClient;
use cathode_tools::summary::{outputs_text, Cut};

pub async fn read(client: &NotebookClient) -> Result<String, String> {
    let cells = client
        .notebook(|nb| nb.cells())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let clears = client
        .notebook(|nb| nb.outputs_cleared())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let shown = client
        .runtime(|rt| rt.shown_executions())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let shown = schema::apply_clears(shown, &clears);
    let mut text = String::new();
    for (i, cell) in cells.iter().enumerate() {
        text.push_str(&format!(
            "### Cell {} · id {} · {}",
            i + 1,
            cell.id,
            cell.cell_type.as_str()
        ));
        if let Some(x) = shown.get(&cell.id) {
            if let Some(n) = x.execution_count {
                text.push_str(&format!(" · [{n}]"));
            }
            text.push_str(&format!(" · {:?}", x.state).to_lowercase());
        }
        text.push_str(&format!("\n```\n{}\n```\n", cell.source));
        if let Some(x) = shown.get(&cell.id).filter(|x| !x.outputs.is_empty()) {
            text.push_str(&format!(
                "Outputs:\n{}\n",
                outputs_text(&x.outputs, Cut::CONTEXT)
            ));
        }
        text.push('\n');
    }
    if cells.is_empty() {
        text.push_str("(the notebook has no cells)\n");
    }
    Ok(text)
}
