//! Knowledge uploads: any bytes under any of the names and types the admin API accepts (text,
//! Markdown, CSV catalog and FAQ, JSON FAQ, PDF), decoded and cut into passages.
#![no_main]

use atiende_app::knowledge::formats::{Upload, decode_upload};
use libfuzzer_sys::fuzz_target;

const NAMES: [(&str, Option<&str>); 6] = [
    ("notes.txt", Some("text/plain")),
    ("policies.md", Some("text/markdown")),
    ("catalog.csv", Some("text/csv")),
    ("faq.csv", None),
    ("faq.json", Some("application/json")),
    ("manual.pdf", Some("application/pdf")),
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let (file_name, content_type) = NAMES[usize::from(which) % NAMES.len()];
    let upload = Upload {
        file_name: file_name.to_owned(),
        content_type: content_type.map(str::to_owned),
        bytes: bytes.to_vec(),
    };
    if let Ok(decoded) = decode_upload(upload, None) {
        let _ = decoded.kind.passages(&decoded.id, &decoded.content);
    }
});
