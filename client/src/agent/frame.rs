//! Framing on the agent's socket: a 4-byte big-endian length, then that
//! many bytes of UTF-8 JSON. Each direction has a maximum frame size that
//! is checked before anything is allocated.

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request the agent reads (a message body is at most 64 KiB; the
/// rest is room for JSON escaping and the other fields).
pub const MAX_REQUEST_FRAME: usize = 1024 * 1024;

/// Largest reply a caller reads (a whole inbox is one reply).
pub const MAX_REPLY_FRAME: usize = 64 * 1024 * 1024;

/// A framing failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer announced a frame larger than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("the connection closed in the middle of a frame")]
    Truncated,
    /// Reading or writing failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The value could not be encoded.
    #[error("cannot encode the frame: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Read one frame of at most `max` bytes. `Ok(None)` is a clean end of
/// stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        let Some(rest) = header.get_mut(got..) else {
            break;
        };
        let n = r.read(rest).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    // Grow with what arrives rather than trusting the announced length.
    let mut body = Vec::new();
    let n = r.take(len as u64).read_to_end(&mut body).await?;
    if n != len {
        return Err(FrameError::Truncated);
    }
    Ok(Some(body))
}

/// Encode `value` as one frame (header and JSON).
pub fn encode_frame<T: Serialize>(value: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; 4];
    serde_json::to_writer(&mut out, value)?;
    let len = out.len() - 4;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let header = u32::try_from(len)
        .map_err(|_| FrameError::TooLarge { len, max })?
        .to_be_bytes();
    if let Some(h) = out.get_mut(..4) {
        h.copy_from_slice(&header);
    }
    Ok(out)
}

/// Write `value` as one frame of at most `max` bytes.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
    max: usize,
) -> Result<(), FrameError> {
    let bytes = zeroize::Zeroizing::new(encode_frame(value, max)?);
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let bytes = encode_frame(&serde_json::json!({"op": "status"}), 100).unwrap();
        let mut r = &bytes[..];
        let body = read_frame(&mut r, 100).await.unwrap().unwrap();
        assert_eq!(body, br#"{"op":"status"}"#);
        assert!(read_frame(&mut r, 100).await.unwrap().is_none());

        let mut r = &bytes[..];
        assert!(matches!(
            read_frame(&mut r, 5).await,
            Err(FrameError::TooLarge { len: 15, max: 5 })
        ));
        let mut r = &bytes[..6];
        assert!(matches!(
            read_frame(&mut r, 100).await,
            Err(FrameError::Truncated)
        ));
        let mut r = &bytes[..2];
        assert!(matches!(
            read_frame(&mut r, 100).await,
            Err(FrameError::Truncated)
        ));
        let huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        let mut r = huge;
        assert!(matches!(
            read_frame(&mut r, MAX_REQUEST_FRAME).await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(encode_frame(&"x".repeat(200), 100).is_err());
    }
}
