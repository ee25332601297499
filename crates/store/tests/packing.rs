//! On SQLite, raw originals that shrink are stored as LZ4 blocks (`content_encoding = 'lz4'`),
//! the others as received; both come back as received (the conformance suite checks that on
//! every backend).

use postern_store::{NewRawMessage, Packing, Store};

/// (content_encoding, stored bytes) of each raw message, by id, read from the file itself.
fn stored(dir: &tempfile::TempDir) -> Vec<(Option<String>, i64)> {
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT content_encoding, length(content) FROM raw_messages ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn text_is_stored_packed_and_noise_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let text = "Subject: order\r\n\r\nYour order 42 has shipped.\r\n".repeat(2_000);
    // Bytes without repeats: an xorshift sequence.
    let noise: Vec<u8> = std::iter::successors(Some(0x9e37_79b9_7f4a_7c15u64), |x| {
        let x = x ^ (x << 13);
        let x = x ^ (x >> 7);
        Some(x ^ (x << 17))
    })
    .take(20_000)
    .map(|x| (x >> 32) as u8)
    .collect();
    let big = "x".repeat(postern_store::PACK_MAX + 1);
    let mut tx = store.begin().await.unwrap();
    for content in [text.as_bytes(), &noise, big.as_bytes()] {
        tx.insert_raw_message(&NewRawMessage {
            source: "smtp",
            envelope_rcpts: "[]".into(),
            content,
            packing: Packing::Later,
            status: postern_model::RawStatus::Processed,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;
    let rows = stored(&dir);
    assert_eq!(rows[0].0.as_deref(), Some("lz4"));
    assert!(rows[0].1 < text.len() as i64 / 10, "{rows:?}");
    assert_eq!(rows[1], (None, noise.len() as i64));
    // Over a piece: as received, in pieces (the first in the row).
    assert_eq!(rows[2], (None, 1 << 20));
}
