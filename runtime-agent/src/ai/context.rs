//! The model's context for one AI cell: the notebook as it stood when the
//! cell was run (every cell above with its source, count, staleness and
//! outputs; cells below summarised), the kernel's variables, earlier AI
//! turns, and the prompt, fitted to the model's budget.
//!
//! What is cut first, until it fits: the middles of outputs of cells far
//! above, then of every cell, then cells far above (down to one line
//! each), then the oldest earlier AI turns, then images (described
//! instead). Never cut: the prompt, the latest error, the variables, the
//! cells the prompt names. What was cut is said in the context itself.
//! Tokens are estimated (a character count; no tokenizer fits every
//! OpenAI-compatible model), with a margin for the answer.

use super::conversation;
use super::settings::ModelInfo;
use cathode_tools::summary::{self, Cut, Part};
use schema::{CellId, CellType, ExecutionRecord, ExecutionState, MimePayload, NotebookDoc};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What the model is told it is and can do.
const SYSTEM: &str =
    "You are the AI collaborator of a cathode notebook, working beside the people \
editing it. You see the notebook as it was when you were asked (cells above your AI cell with \
their outputs, errors and tracebacks, cells below summarised) and the kernel's variables. \
Use the tools to act: create, modify, move and delete cells, run code cells (they run on the \
notebook's kernel, and everyone sees your edits as you make them), read a cell's full outputs, \
look at variables, or run scratch code. Refer to cells by their ids exactly as given. Keep \
cells small and runnable; after running code, check its outputs before you claim it worked. \
Answer in Markdown, briefly.";

/// Tokens an image costs, roughly (a 512px tile).
const IMAGE_TOKENS: usize = 800;
/// Of the model's window, what the context may use (the rest is the answer's).
const BUDGET_SHARE: f64 = 0.75;
/// Cells nearest the AI cell that keep their outputs longest.
const NEAR: usize = 5;

pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// What the context holds and what was cut to make it fit.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub estimated_tokens: usize,
    pub budget: usize,
    pub cut: Vec<String>,
}

pub struct Context {
    pub messages: Vec<Value>,
    pub report: Report,
    /// Blobs of images sent as image parts (sha256), which the caller
    /// fetches and puts in place of their `cathode-blob:` URLs.
    pub blob_images: Vec<String>,
}

/// One cell above the AI cell, at each level of detail.
struct Block {
    full: String,
    short: String,
    line: String,
    images: Vec<(String, MimePayload)>,
    keep: bool,
}

pub struct Input<'a> {
    pub notebook: &'a NotebookDoc,
    /// The execution each cell shows (`RuntimeDoc::shown_executions`).
    pub shown: &'a HashMap<CellId, ExecutionRecord>,
    pub ai_cell: &'a CellId,
    pub prompt: &'a str,
    pub model: &'a ModelInfo,
    pub variables: Option<&'a Value>,
}

fn first_line(source: &str) -> String {
    let line = source.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.chars().take(100).collect()
}

fn state_word(x: &ExecutionRecord) -> &'static str {
    match x.state {
        ExecutionState::Queued => "queued",
        ExecutionState::Running => "running",
        ExecutionState::Done => "done",
        ExecutionState::Error => "error",
        ExecutionState::Cancelled => "cancelled",
        ExecutionState::Lost => "lost (its agent died)",
    }
}

fn outputs(x: &ExecutionRecord, cut: Cut, images: &mut Vec<(String, MimePayload)>) -> String {
    let mut text = Vec::new();
    for output in &x.outputs {
        for part in summary::output(output, cut) {
            match part {
                Part::Text(t) => text.push(t),
                Part::Image {
                    mime,
                    payload,
                    described,
                } => {
                    text.push(described);
                    images.push((mime, payload));
                }
            }
        }
    }
    text.join("\n")
}

fn block(
    nb: &NotebookDoc,
    cell: &schema::Cell,
    index: usize,
    shown: Option<&ExecutionRecord>,
) -> Block {
    let kind = cell.cell_type.as_str();
    let mut head = format!("### Cell {} · id {} · {kind}", index + 1, cell.id);
    if let Some(x) = shown {
        match x.execution_count {
            Some(n) => head.push_str(&format!(" · [{n}]")),
            None => head.push_str(" · [ ]"),
        }
        head.push_str(&format!(" · {}", state_word(x)));
        let ran = nb.source_at(&cell.id, &x.source_heads).ok();
        if ran.is_some_and(|ran| ran != cell.source) {
            head.push_str(" · stale: edited since it ran");
        }
    }
    let line = format!("- {} ({kind}): {}", cell.id, first_line(&cell.source));
    if cell.cell_type == CellType::Ai {
        let text = format!(
            "{head}\nPrompt: {}\n(its conversation is above)",
            cell.source
        );
        return Block {
            full: text.clone(),
            short: text,
            line,
            images: Vec::new(),
            keep: false,
        };
    }
    let fence = if cell.cell_type == CellType::Code {
        "```python"
    } else {
        "```"
    };
    let source = format!("{head}\n{fence}\n{}\n```", cell.source);
    let mut images = Vec::new();
    let (full, short) = match shown {
        Some(x) if !x.outputs.is_empty() => {
            let mut ignored = Vec::new();
            (
                format!(
                    "{source}\nOutputs:\n{}",
                    outputs(x, Cut::CONTEXT, &mut images)
                ),
                format!(
                    "{source}\nOutputs (shortened):\n{}",
                    outputs(
                        x,
                        Cut {
                            head: 300,
                            tail: 200
                        },
                        &mut ignored
                    )
                ),
            )
        }
        _ => (source.clone(), source),
    };
    Block {
        full,
        short,
        line,
        images,
        keep: false,
    }
}

/// Build the context. Earlier AI cells' turns come before the current
/// prompt, as messages of their own.
pub fn build(input: &Input<'_>) -> schema::Result<Context> {
    let cells = input.notebook.cells()?;
    let shown = input.shown;
    let at = cells
        .iter()
        .position(|c| &c.id == input.ai_cell)
        .unwrap_or(cells.len());
    let above = &cells[..at];
    let below = cells.get(at + 1..).unwrap_or(&[]);

    let mut blocks: Vec<Block> = above
        .iter()
        .enumerate()
        .map(|(i, c)| block(input.notebook, c, i, shown.get(&c.id)))
        .collect();
    // Never cut: the latest error, and cells the prompt names.
    if let Some(i) = above.iter().rposition(|c| {
        shown
            .get(&c.id)
            .is_some_and(|x| x.state == ExecutionState::Error)
    }) {
        blocks[i].keep = true;
    }
    for (i, c) in above.iter().enumerate() {
        if input.prompt.contains(c.id.as_str()) {
            blocks[i].keep = true;
        }
    }
    let mut turns: Vec<Vec<Value>> = above
        .iter()
        .filter(|c| c.cell_type == CellType::Ai)
        .filter_map(|c| {
            let x = shown.get(&c.id)?;
            Some(conversation::messages_of(&c.source, &x.outputs))
        })
        .collect();

    let below_text = if below.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = below
            .iter()
            .map(|c| {
                format!(
                    "- {} ({}): {}",
                    c.id,
                    c.cell_type.as_str(),
                    first_line(&c.source)
                )
            })
            .collect();
        format!("\n\n## Cells below the AI cell\n{}", lines.join("\n"))
    };
    let variables = match input.variables {
        Some(v) => format!("\n\n## Kernel variables\n{v}"),
        None => String::new(),
    };
    let budget = ((input.model.context_tokens as f64) * BUDGET_SHARE) as usize;

    #[derive(Clone, Copy, PartialEq, PartialOrd)]
    enum Level {
        Full,
        FarShort,
        AllShort,
        FarLines,
    }
    let near_from = blocks.len().saturating_sub(NEAR);
    let render = |blocks: &[Block], level: Level| -> Vec<String> {
        blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let far = i < near_from;
                if b.keep {
                    return b.full.clone();
                }
                match level {
                    Level::Full => b.full.clone(),
                    Level::FarShort if far => b.short.clone(),
                    Level::FarShort => b.full.clone(),
                    Level::AllShort => b.short.clone(),
                    Level::FarLines if far => b.line.clone(),
                    Level::FarLines => b.short.clone(),
                }
            })
            .collect()
    };
    let turns_tokens = |turns: &[Vec<Value>]| -> usize {
        turns
            .iter()
            .flatten()
            .map(|m| estimate_tokens(&m.to_string()))
            .sum()
    };
    let fixed = estimate_tokens(SYSTEM)
        + estimate_tokens(input.prompt)
        + estimate_tokens(&variables)
        + estimate_tokens(&below_text)
        + 200;
    let mut images_on = input.model.images;
    let image_tokens = |blocks: &[Block], on: bool| -> usize {
        if on {
            blocks.iter().map(|b| b.images.len() * IMAGE_TOKENS).sum()
        } else {
            0
        }
    };
    let mut cut = Vec::new();
    let mut level = Level::Full;
    let mut rendered = render(&blocks, level);
    let total = |rendered: &[String], turns: &[Vec<Value>], images: usize| {
        fixed
            + rendered.iter().map(|t| estimate_tokens(t)).sum::<usize>()
            + turns_tokens(turns)
            + images
    };
    for (next, note) in [
        (
            Level::FarShort,
            "outputs of cells more than 5 above the AI cell shortened",
        ),
        (Level::AllShort, "outputs of every cell above shortened"),
        (
            Level::FarLines,
            "cells more than 5 above the AI cell reduced to their first line",
        ),
    ] {
        if total(&rendered, &turns, image_tokens(&blocks, images_on)) <= budget {
            break;
        }
        level = next;
        rendered = render(&blocks, level);
        cut.push(note.to_owned());
    }
    let mut dropped_turns = 0;
    while total(&rendered, &turns, image_tokens(&blocks, images_on)) > budget && turns.len() > 1 {
        turns.remove(0);
        dropped_turns += 1;
    }
    if dropped_turns > 0 {
        cut.push(format!(
            "the {dropped_turns} oldest earlier AI conversations left out"
        ));
    }
    if images_on && total(&rendered, &turns, image_tokens(&blocks, true)) > budget {
        images_on = false;
        cut.push("images described instead of shown".into());
    }
    let _ = level;

    let mut text = String::from("## The notebook\n");
    if above.is_empty() {
        text.push_str("(no cells above the AI cell)\n");
    }
    text.push_str(&rendered.join("\n\n"));
    text.push_str(&below_text);
    text.push_str(&variables);
    if !cut.is_empty() {
        text.push_str(&format!(
            "\n\n(To fit the model's context: {}.)",
            cut.join("; ")
        ));
    }
    text.push_str(&format!("\n\n## The request\n{}", input.prompt));

    let mut content = vec![json!({"type": "text", "text": text})];
    let mut blob_images = Vec::new();
    if images_on {
        for b in &blocks {
            for (mime, payload) in &b.images {
                let url = match payload {
                    MimePayload::Inline {
                        value: Value::String(b64),
                    } => {
                        format!(
                            "data:{mime};base64,{}",
                            b64.split_whitespace().collect::<String>()
                        )
                    }
                    MimePayload::Blob { sha256, .. } => {
                        blob_images.push(sha256.clone());
                        format!("cathode-blob:{mime}:{sha256}")
                    }
                    MimePayload::Inline { .. } => continue,
                };
                content.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
        }
    }
    let estimated = total(&rendered, &turns, image_tokens(&blocks, images_on));
    let mut messages = vec![json!({"role": "system", "content": SYSTEM})];
    messages.extend(turns.into_iter().flatten());
    messages.push(json!({"role": "user", "content": content}));
    Ok(Context {
        messages,
        report: Report {
            estimated_tokens: estimated,
            budget,
            cut,
        },
        blob_images,
    })
}

/// Put fetched images in place of their `cathode-blob:` URLs; images that
/// could not be fetched are left out.
pub fn fill_blob_images(messages: &mut [Value], blobs: &HashMap<String, Vec<u8>>) {
    use base64::Engine;
    for message in messages {
        let Some(parts) = message["content"].as_array_mut() else {
            continue;
        };
        parts.retain_mut(|part| {
            let Some(url) = part.pointer("/image_url/url").and_then(Value::as_str) else {
                return true;
            };
            let Some(rest) = url.strip_prefix("cathode-blob:") else {
                return true;
            };
            let Some((mime, sha)) = rest.split_once(':') else {
                return false;
            };
            match blobs.get(sha) {
                Some(bytes) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    part["image_url"]["url"] = json!(format!("data:{mime};base64,{b64}"));
                    true
                }
                None => false,
            }
        });
    }
}
