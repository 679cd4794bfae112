//! The files behind the URLs the simulator hands out. Any name ending in `.mp3` is a
//! second of silent MPEG-1 Layer III audio; any name ending in `.jpg`/`.jpeg` is a 1×1
//! grey baseline JPEG. Both are built here, byte by byte, and are valid for real decoders.

use crate::envelope::{error, MSG_NOT_FOUND};
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

pub async fn serve_file(Path(name): Path<String>) -> Response {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".mp3") {
        ([(header::CONTENT_TYPE, "audio/mpeg")], mp3()).into_response()
    } else if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        ([(header::CONTENT_TYPE, "image/jpeg")], JPEG).into_response()
    } else {
        error(404, MSG_NOT_FOUND)
    }
}

/// 128 kbit/s, 44.1 kHz, joint stereo: each frame is 144 * 128000 / 44100 = 417 bytes
/// and lasts 1152 samples, so 39 frames are just over a second.
const FRAME_HEADER: [u8; 4] = [0xFF, 0xFB, 0x90, 0x44];
const FRAME_LEN: usize = 417;
const FRAMES: usize = 39;

/// An ID3v2.4 header with an empty tag, then frames whose side information and main
/// data are all zero: every granule decodes to silence.
pub fn mp3() -> &'static [u8] {
    static MP3: OnceLock<Vec<u8>> = OnceLock::new();
    MP3.get_or_init(|| {
        let mut out = vec![b'I', b'D', b'3', 4, 0, 0, 0, 0, 0, 0];
        for _ in 0..FRAMES {
            out.extend_from_slice(&FRAME_HEADER);
            out.resize(out.len() + FRAME_LEN - FRAME_HEADER.len(), 0);
        }
        out
    })
}

/// Baseline JPEG, one 8-bit component, 1×1 pixel. The single block has DC difference 0
/// and no AC coefficients, so each Huffman table holds one one-bit code ("0"): the scan
/// is the bits `0` (DC) `0` (end of block), padded with ones to `0x3F`.
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, // SOI
    0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00,
    0x01, 0x00, 0x00, // APP0 JFIF 1.1, aspect 1:1, no thumbnail
    0xFF, 0xDB, 0x00, 0x43, 0x00, // DQT table 0, 64 entries of 1
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, //
    0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11,
    0x00, // SOF0 1×1, component 1, sampling 1×1, table 0
    0xFF, 0xC4, 0x00, 0x14, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x00, // DHT DC 0: one code of length 1 for category 0
    0xFF, 0xC4, 0x00, 0x14, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x00, // DHT AC 0: one code of length 1 for end-of-block
    0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, // SOS
    0x3F, // scan data
    0xFF, 0xD9, // EOI
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp3_frames_are_where_their_length_says() {
        let data = mp3();
        assert_eq!(&data[..3], b"ID3");
        assert_eq!(data.len(), 10 + FRAMES * FRAME_LEN);
        for i in 0..FRAMES {
            let at = 10 + i * FRAME_LEN;
            assert_eq!(data[at..at + 4], FRAME_HEADER);
        }
    }

    #[test]
    fn jpeg_segments_chain_to_the_scan() {
        assert_eq!(&JPEG[..2], &[0xFF, 0xD8]);
        assert_eq!(&JPEG[JPEG.len() - 2..], &[0xFF, 0xD9]);
        // Walk the marker segments by their declared lengths up to SOS.
        let mut at = 2;
        loop {
            assert_eq!(JPEG[at], 0xFF);
            let marker = JPEG[at + 1];
            let len = usize::from(JPEG[at + 2]) << 8 | usize::from(JPEG[at + 3]);
            at += 2 + len;
            if marker == 0xDA {
                break;
            }
        }
        assert_eq!(at, JPEG.len() - 3);
    }
}
