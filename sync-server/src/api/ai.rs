//! The AI providers as the API shows them: their models to anyone signed
//! in (a browser's model picker), everything including keys only to an
//! agent this server started (a runtime token it minted itself), never to
//! a person: an owner or editor could otherwise read the operator's key.

use super::{role, ApiError, ApiResult};
use crate::ai_config::HOW_TO_CONFIGURE;
use crate::app::AppState;
use crate::auth::Principal;
use crate::store::MintedAs;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schema::wire::Role;
use serde_json::json;

/// `GET /api/ai/models`: what an AI cell may choose, without keys.
pub async fn models(State(state): State<AppState>) -> Json<serde_json::Value> {
    let ai = &state.config.ai;
    let models: Vec<serde_json::Value> = ai
        .models()
        .into_iter()
        .map(|(id, m)| {
            json!({"id": id, "model": m.id, "tools": m.tools, "images": m.images,
                   "context_tokens": m.context_tokens})
        })
        .collect();
    Json(json!({
        "configured": ai.is_configured(),
        "default": ai.default_model(),
        "models": models,
        "how_to_configure": (!ai.is_configured()).then_some(HOW_TO_CONFIGURE),
    }))
}

/// `GET /api/notebooks/{id}/runtime/ai`: the providers with their keys,
/// for the notebook's agent when the server started it.
pub async fn for_runtime(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Runtime || who.minted_as != Some(MintedAs::Server) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ai_withheld",
            "AI provider keys go only to runtime agents this server started itself",
        ));
    }
    let ai = &state.config.ai;
    tracing::info!(notebook_id = %id, providers = ai.providers.len(), "AI providers delivered to the runtime");
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "providers": ai.providers,
            "default_model": ai.default_model(),
            "max_turns": ai.max_turns,
            "how_to_configure": HOW_TO_CONFIGURE,
        })),
    )
        .into_response())
}
