//! Relaying kernel questions (completion, inspection) between a person's
//! peer and the notebook's runtime agent.
//!
//! Ephemeral and directed: a request goes to the agent only, its reply to
//! the asker only, and neither touches a document or the log. The room
//! checks each request (completion runs code in the kernel's namespace,
//! so only owners and editors may ask), limits how often a peer asks, and
//! queues at most `MAX_KERNEL_FRAMES` toward any peer: past that the asker
//! hears "unavailable" at once instead of a queue growing.

use super::outbox::Outbox;
use super::Room;
use schema::wire::{Frame, Role};
use schema::{KernelAnswer, KernelReply, KernelRequest};
use std::time::Instant;

/// Requests a peer may make per second, and in one burst.
const PER_SECOND: f64 = 20.0;
const BURST: f64 = 20.0;

/// One peer's allowance of kernel requests (a token bucket).
pub struct KernelBudget {
    tokens: f64,
    last: Instant,
}

impl Default for KernelBudget {
    fn default() -> Self {
        Self {
            tokens: BURST,
            last: Instant::now(),
        }
    }
}

impl KernelBudget {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * PER_SECOND;
        self.tokens = (self.tokens + earned).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn answer(out: &Outbox, id: u64, answer: KernelAnswer) {
    let frame = Frame::KernelReply(KernelReply {
        id,
        to: None,
        answer,
    });
    // A full queue toward the asker drops the reply: it already has more
    // than it reads.
    let _ = out.push_kernel(frame.encode());
}

fn unavailable(reason: &str) -> KernelAnswer {
    KernelAnswer::Unavailable {
        reason: reason.to_owned(),
    }
}

impl Room {
    pub(super) fn kernel_request(&mut self, peer_id: &str, mut request: KernelRequest) {
        let Some(asker) = self.peers.get_mut(peer_id) else {
            return;
        };
        let refusal = match asker.info.role {
            Role::Owner | Role::Editor => None,
            Role::Viewer => Some(
                "a viewer cannot ask the kernel: completion runs code in the notebook's namespace",
            ),
            Role::Runtime => Some("a runtime does not ask the kernel"),
        }
        .or_else(|| (!asker.kernel_budget.take()).then_some("too many kernel requests; slow down"));
        if let Some(reason) = refusal {
            answer(&asker.outbox, request.id, unavailable(reason));
            return;
        }
        let asker_outbox = asker.outbox.clone();
        let agent = self
            .peers
            .values()
            .find(|p| p.info.role == Role::Runtime && !p.outbox.is_gone());
        let Some(agent) = agent else {
            answer(
                &asker_outbox,
                request.id,
                unavailable("no runtime is running for this notebook"),
            );
            return;
        };
        request.from = Some(peer_id.to_owned());
        let id = request.id;
        if !agent
            .outbox
            .push_kernel(Frame::KernelRequest(request).encode())
        {
            answer(
                &asker_outbox,
                id,
                unavailable("the runtime has too many questions waiting"),
            );
        }
    }

    pub(super) fn kernel_reply(&mut self, peer_id: &str, mut reply: KernelReply) {
        let from_runtime = self
            .peers
            .get(peer_id)
            .is_some_and(|p| p.info.role == Role::Runtime);
        if !from_runtime {
            tracing::warn!(%peer_id, "a kernel reply from a peer that is not a runtime; dropped");
            return;
        }
        let Some(to) = reply.to.take() else {
            return;
        };
        // The asker may have left meanwhile: nothing to do then.
        if let Some(asker) = self.peers.get(&to) {
            let _ = asker.outbox.push_kernel(Frame::KernelReply(reply).encode());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_and_then_limited() {
        let mut budget = KernelBudget::default();
        let allowed = (0..100).filter(|_| budget.take()).count();
        assert!((20..=21).contains(&allowed), "{allowed}");
    }
}
