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
        ([(header::CONTENT_TYPE, "image/jpeg")], jpeg()).into_response()
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
pub fn jpeg() -> &'static [u8] {
    static JPEG: OnceLock<Vec<u8>> = OnceLock::new();
    JPEG.get_or_init(|| {
        let mut out = vec![0xFF, 0xD8]; // SOI
                                        // APP0: JFIF 1.1, aspect ratio 1:1, no thumbnail.
        segment(&mut out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        // DQT: table 0, every step 1.
        let mut dqt = vec![0];
        dqt.extend([1; 64]);
        segment(&mut out, 0xDB, &dqt);
        // SOF0: 8-bit, height 1, width 1, one component (id 1, 1×1 sampling, table 0).
        segment(&mut out, 0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
        segment(&mut out, 0xC4, &one_code_table(0x00)); // DC table 0
        segment(&mut out, 0xC4, &one_code_table(0x10)); // AC table 0
                                                        // SOS: component 1 with tables 0/0, full spectral range.
        segment(&mut out, 0xDA, &[1, 1, 0x00, 0, 63, 0]);
        out.push(0x3F);
        out.extend([0xFF, 0xD9]); // EOI
        out
    })
}

/// A marker segment; its length field counts itself.
fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend([0xFF, marker]);
    out.extend(
        u16::try_from(payload.len() + 2)
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
}

/// A Huffman table with a single code of length 1 for symbol 0 (DC category 0, or AC
/// end-of-block).
fn one_code_table(class_and_id: u8) -> Vec<u8> {
    let mut table = vec![class_and_id, 1];
    table.extend([0; 15]);
    table.push(0);
    table
}

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
        let jpeg = jpeg();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        // Walk the marker segments by their declared lengths up to SOS.
        let mut at = 2;
        loop {
            assert_eq!(jpeg[at], 0xFF);
            let marker = jpeg[at + 1];
            let len = usize::from(jpeg[at + 2]) << 8 | usize::from(jpeg[at + 3]);
            at += 2 + len;
            if marker == 0xDA {
                break;
            }
        }
        assert_eq!(at, jpeg.len() - 3);
    }
}
