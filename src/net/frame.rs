//! Kafka framing: a big-endian i32 size, then that many bytes. The size is
//! checked against the limit before anything is allocated for the body.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} is outside 0..={max} bytes")]
    BadSize { size: i64, max: u32 },
    #[error("connection closed mid-frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one frame body; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    frame_bytes_max: u32,
) -> Result<Option<Bytes>, FrameError> {
    let mut size_buf = [0u8; 4];
    match reader.read_exact(&mut size_buf).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(size_buf);
    if size < 0 || size as u32 > frame_bytes_max {
        return Err(FrameError::BadSize { size: size as i64, max: frame_bytes_max });
    }
    // read into fresh capacity (no zero-fill); `take` stops at the frame's end so the
    // next frame stays in the reader
    let size = size as usize;
    let mut body = BytesMut::with_capacity(size);
    let mut limited = (&mut *reader).take(size as u64);
    while body.len() < size {
        if limited.read_buf(&mut body).await? == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(Some(body.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_rejects_hostile_sizes() {
        let mut data: &[u8] = &[0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0];
        assert_eq!(&read_frame(&mut data, 10).await.unwrap().unwrap()[..], &[1, 2, 3]);
        assert_eq!(read_frame(&mut data, 10).await.unwrap().unwrap().len(), 0);
        assert!(read_frame(&mut data, 10).await.unwrap().is_none());
        let mut huge: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(read_frame(&mut huge, 1024).await, Err(FrameError::BadSize { .. })));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(read_frame(&mut neg, 1024).await, Err(FrameError::BadSize { .. })));
        let mut short: &[u8] = &[0, 0, 0, 5, 1];
        assert!(matches!(read_frame(&mut short, 1024).await, Err(FrameError::Truncated)));
    }
}
