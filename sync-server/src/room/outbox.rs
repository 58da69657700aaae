//! What a room has for one peer's socket, bounded by construction.
//!
//! Automerge's sync is state-based: a peer that reads slowly needs no
//! backlog of relayed messages, only the next message generated when its
//! socket can take one. So the outbox holds at most one sync frame per
//! document, one presence frame and a few control frames. When a slot is
//! full the room does not generate; it marks the peer as owed, and the
//! writer, once it has sent the frame, asks the room for the next one
//! (`RoomCommand::Writable`). A peer's memory on the server is therefore a
//! handful of frames however far behind it falls.

use schema::DocKind;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Control frames (errors, welcome) queued at most; more means the peer
/// is not reading, and it is closed.
const MAX_CONTROL_FRAMES: usize = 16;
/// Kernel requests and replies queued at most; more are refused (the asker
/// is told), never queued and never a reason to close the peer.
pub const MAX_KERNEL_FRAMES: usize = 32;

#[derive(Default)]
struct Slots {
    sync: [Option<Vec<u8>>; 2],
    presence: Option<Vec<u8>>,
    control: VecDeque<Vec<u8>>,
    kernel: VecDeque<Vec<u8>>,
    close: bool,
    /// The room skipped a peer's message because a slot was full.
    owed: bool,
    /// The writer has stopped; nothing will be sent.
    gone: bool,
}

#[derive(Default)]
pub struct Outbox {
    slots: Mutex<Slots>,
    wake: Notify,
}

/// What the writer should do next.
pub enum Next {
    /// Send this frame; `freed` when it emptied a slot the room fills.
    Frame {
        bytes: Vec<u8>,
        freed: bool,
    },
    Close,
}

impl Outbox {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding this lock leaves plain data behind.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn sync_free(&self, doc: DocKind) -> bool {
        let s = self.slots();
        !s.gone && !s.close && s.sync[doc.index()].is_none()
    }

    pub fn put_sync(&self, doc: DocKind, frame: Vec<u8>) {
        self.slots().sync[doc.index()] = Some(frame);
        self.wake.notify_one();
    }

    pub fn presence_free(&self) -> bool {
        let s = self.slots();
        !s.gone && !s.close && s.presence.is_none()
    }

    pub fn put_presence(&self, frame: Vec<u8>) {
        self.slots().presence = Some(frame);
        self.wake.notify_one();
    }

    /// Queue a control frame; `false` (and the outbox closes) when the peer
    /// already has too many unsent.
    pub fn push_control(&self, frame: Vec<u8>) -> bool {
        let mut s = self.slots();
        if s.control.len() >= MAX_CONTROL_FRAMES {
            s.close = true;
            drop(s);
            self.wake.notify_one();
            return false;
        }
        s.control.push_back(frame);
        drop(s);
        self.wake.notify_one();
        true
    }

    /// Queue a kernel request or reply; `false` when the queue is full.
    pub fn push_kernel(&self, frame: Vec<u8>) -> bool {
        let mut s = self.slots();
        if s.gone || s.close || s.kernel.len() >= MAX_KERNEL_FRAMES {
            return false;
        }
        s.kernel.push_back(frame);
        drop(s);
        self.wake.notify_one();
        true
    }

    /// Send the control frames already queued, then close.
    pub fn close(&self) {
        self.slots().close = true;
        self.wake.notify_one();
    }

    pub fn set_owed(&self) {
        self.slots().owed = true;
    }

    pub fn is_gone(&self) -> bool {
        self.slots().gone
    }

    /// Writer side: whether the room skipped this peer since the last call.
    pub fn take_owed(&self) -> bool {
        std::mem::take(&mut self.slots().owed)
    }

    /// Writer side: the socket is finished with.
    pub fn mark_gone(&self) {
        let mut s = self.slots();
        s.gone = true;
        s.sync = [None, None];
        s.presence = None;
        s.control.clear();
        s.kernel.clear();
    }

    /// Writer side: wait for the next frame. Control frames go first; once
    /// closed, only the control frames queued before are still sent.
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.wake.notified();
            {
                let mut s = self.slots();
                if let Some(bytes) = s.control.pop_front() {
                    return Next::Frame {
                        bytes,
                        freed: false,
                    };
                }
                if s.close || s.gone {
                    return Next::Close;
                }
                // Someone is waiting on these while typing: before sync.
                if let Some(bytes) = s.kernel.pop_front() {
                    return Next::Frame {
                        bytes,
                        freed: false,
                    };
                }
                for slot in 0..2 {
                    if let Some(bytes) = s.sync[slot].take() {
                        return Next::Frame { bytes, freed: true };
                    }
                }
                if let Some(bytes) = s.presence.take() {
                    return Next::Frame { bytes, freed: true };
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_hold_one_frame_each_and_control_goes_first() {
        let out = Outbox::new();
        assert!(out.sync_free(DocKind::Notebook));
        out.put_sync(DocKind::Notebook, vec![1]);
        assert!(!out.sync_free(DocKind::Notebook));
        assert!(out.sync_free(DocKind::Runtime));
        out.push_control(vec![9]);
        match out.next().await {
            Next::Frame { bytes, freed } => assert_eq!((bytes, freed), (vec![9], false)),
            Next::Close => panic!(),
        }
        match out.next().await {
            Next::Frame { bytes, freed } => assert_eq!((bytes, freed), (vec![1], true)),
            Next::Close => panic!(),
        }
        assert!(out.sync_free(DocKind::Notebook));
    }

    #[tokio::test]
    async fn a_peer_that_never_reads_is_closed_not_queued() {
        let out = Outbox::new();
        for _ in 0..MAX_CONTROL_FRAMES {
            assert!(out.push_control(vec![0]));
        }
        assert!(!out.push_control(vec![0]));
        for _ in 0..MAX_CONTROL_FRAMES {
            assert!(matches!(out.next().await, Next::Frame { .. }));
        }
        assert!(matches!(out.next().await, Next::Close));
    }

    #[tokio::test]
    async fn kernel_frames_are_bounded_and_refused_not_closed() {
        let out = Outbox::new();
        for _ in 0..MAX_KERNEL_FRAMES {
            assert!(out.push_kernel(vec![0x30]));
        }
        assert!(!out.push_kernel(vec![0x30]));
        assert!(out.push_control(vec![1]), "the peer is not closed");
        assert!(matches!(out.next().await, Next::Frame { bytes, .. } if bytes == vec![1]));
        assert!(matches!(out.next().await, Next::Frame { bytes, .. } if bytes == vec![0x30]));
        assert!(out.push_kernel(vec![0x30]));
    }
}
