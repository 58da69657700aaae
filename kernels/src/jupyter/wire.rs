//! Jupyter's wire format: signing, encoding and decoding multipart messages.
//!
//! Layout: `[identities.., "<IDS|MSG>", hmac, header, parent_header,
//! metadata, content, buffers..]`. The HMAC key is the connection file's
//! `key` string used as raw UTF-8 bytes (not hex-decoded), which is what
//! jupyter_client and ipykernel do.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent, UnknownMessage};
use serde_json::Value;
use sha2::Sha256;
use zeromq::ZmqMessage;

use crate::error::{KernelError, Result};

const DELIMITER: &[u8] = b"<IDS|MSG>";

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies messages of one connection, and stamps headers with its session.
#[derive(Clone)]
pub struct Codec {
    key: Vec<u8>,
    session: String,
}

impl Codec {
    pub fn new(key: &str, session: String) -> Codec {
        Codec {
            key: key.as_bytes().to_vec(),
            session,
        }
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    fn mac(&self) -> Option<HmacSha256> {
        if self.key.is_empty() {
            return None;
        }
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.key).ok()
    }

    fn sign(&self, parts: &[&[u8]]) -> String {
        match self.mac() {
            None => String::new(),
            Some(mut mac) => {
                for p in parts {
                    mac.update(p);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// A fresh header for a request of `msg_type` from this session.
    pub fn header(&self, msg_type: &str) -> Header {
        Header {
            msg_id: uuid::Uuid::new_v4().to_string(),
            username: "cathode".to_string(),
            session: self.session.clone(),
            date: chrono::Utc::now(),
            msg_type: msg_type.to_string(),
            version: "5.3".to_string(),
        }
    }

    /// Encode `content` as a new message; returns the frames and the header used.
    pub fn encode(
        &self,
        content: &JupyterMessageContent,
        parent: Option<&Header>,
    ) -> Result<(ZmqMessage, Header)> {
        let header = self.header(content.message_type());
        let header_json = serde_json::to_vec(&header)?;
        let parent_json = match parent {
            Some(p) => serde_json::to_vec(p)?,
            None => b"{}".to_vec(),
        };
        let metadata_json = b"{}".to_vec();
        let content_json = serde_json::to_vec(content)?;
        let sig = self.sign(&[&header_json, &parent_json, &metadata_json, &content_json]);
        let frames: Vec<Bytes> = vec![
            Bytes::from_static(DELIMITER),
            Bytes::from(sig),
            Bytes::from(header_json),
            Bytes::from(parent_json),
            Bytes::from(metadata_json),
            Bytes::from(content_json),
        ];
        let msg = ZmqMessage::try_from(frames)
            .map_err(|e| KernelError::Protocol(format!("empty message: {e}")))?;
        Ok((msg, header))
    }

    /// Decode and verify one multipart message.
    ///
    /// Errors mean "skip this message": callers log them and carry on, since
    /// kernels do send odd messages and one bad message must never be fatal.
    pub fn decode(&self, msg: ZmqMessage) -> Result<JupyterMessage> {
        let frames = msg.into_vec();
        let pos = frames
            .iter()
            .position(|f| f.as_ref() == DELIMITER)
            .ok_or_else(|| KernelError::Protocol("no <IDS|MSG> delimiter".into()))?;
        let rest = &frames[pos + 1..];
        if rest.len() < 5 {
            return Err(KernelError::Protocol(format!(
                "message has {} frames after the delimiter, need 5",
                rest.len()
            )));
        }
        let (sig, header, parent, metadata, content) =
            (&rest[0], &rest[1], &rest[2], &rest[3], &rest[4]);
        if let Some(mut mac) = self.mac() {
            mac.update(header);
            mac.update(parent);
            mac.update(metadata);
            mac.update(content);
            let given = hex::decode(sig.as_ref())
                .map_err(|_| KernelError::Protocol("signature is not hex".into()))?;
            mac.verify_slice(&given)
                .map_err(|_| KernelError::Protocol("bad message signature".into()))?;
        }
        let header: Header = serde_json::from_slice(header)?;
        let parent_value: Value = serde_json::from_slice(parent)?;
        let parent_header = match parent_value {
            Value::Object(ref m) if m.is_empty() => None,
            Value::Null => None,
            v => serde_json::from_value::<Header>(v).ok(),
        };
        let metadata: Value = serde_json::from_slice(metadata)?;
        let content_value: Value = serde_json::from_slice(content)?;
        // A known type whose content does not match the spec (bash_kernel's
        // kernel_info_reply lacks language_info.version, for one) is kept as
        // raw JSON, so callers can still read what they need from it.
        let content = match JupyterMessageContent::from_type_and_content(
            &header.msg_type,
            content_value.clone(),
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("{} content does not match the spec: {e}", header.msg_type);
                JupyterMessageContent::UnknownMessage(UnknownMessage {
                    msg_type: header.msg_type.clone(),
                    content: content_value,
                })
            }
        };
        Ok(JupyterMessage {
            zmq_identities: frames[..pos].to_vec(),
            header,
            parent_header,
            metadata,
            content,
            buffers: rest[5..].to_vec(),
            channel: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jupyter_protocol::KernelInfoRequest;

    #[test]
    fn round_trip_with_signature() {
        let codec = Codec::new("secret-key", "s1".into());
        let content = JupyterMessageContent::KernelInfoRequest(KernelInfoRequest {});
        let (msg, header) = codec.encode(&content, None).expect("encode");
        let decoded = codec.decode(msg).expect("decode");
        assert_eq!(decoded.header.msg_id, header.msg_id);
        assert_eq!(decoded.header.msg_type, "kernel_info_request");
        assert!(decoded.parent_header.is_none());
    }

    #[test]
    fn wrong_key_is_rejected() {
        let a = Codec::new("key-a", "s".into());
        let b = Codec::new("key-b", "s".into());
        let content = JupyterMessageContent::KernelInfoRequest(KernelInfoRequest {});
        let (msg, _) = a.encode(&content, None).expect("encode");
        assert!(b.decode(msg).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let codec = Codec::new("k", "s".into());
        let msg = ZmqMessage::from("hello");
        assert!(codec.decode(msg).is_err());
        let frames = vec![
            Bytes::from_static(DELIMITER),
            Bytes::from_static(b""),
            Bytes::from_static(b"{not json"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
        ];
        let codec = Codec::new("", "s".into());
        assert!(codec
            .decode(ZmqMessage::try_from(frames).expect("frames"))
            .is_err());
    }
}
