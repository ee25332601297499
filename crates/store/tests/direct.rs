//! The group committer's direct SQLite connection: what it commits reaches the database file
//! itself (its checkpointer thread copies the WAL there), and its transactions roll back when
//! dropped unfinished, and a `BEGIN` that times out leaves it usable.

use postern_store::Store;
use std::time::Duration;

async fn store(dir: &tempfile::TempDir) -> Store {
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.with_direct_writes_for_tests().unwrap()
}

/// Rows of `params` in the database file alone, WAL ignored (`immutable=1` reads the main file
/// only): what a checkpoint has copied there (0 before the schema itself got there).
fn params_in_main_file(dir: &tempfile::TempDir) -> i64 {
    let uri = format!("file:{}/t.db?immutable=1", dir.path().display());
    let conn = rusqlite::Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap();
    conn.query_row(
        "SELECT count(*) FROM params WHERE key LIKE 'test.%'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

#[tokio::test]
async fn the_checkpointer_copies_commits_into_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let mut tx = store.begin().await.unwrap();
    for i in 0..50 {
        tx.set_param(&format!("test.{i}"), "x").await.unwrap();
    }
    tx.commit().await.unwrap();
    // The committer's own commits only checkpoint past 20,000 pages: these 50 rows reach the
    // main file through the checkpointer thread (every 20 ms).
    let mut seen = 0;
    for _ in 0..50 {
        seen = params_in_main_file(&dir);
        if seen == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 50);
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back_and_frees_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let mut tx = store.begin().await.unwrap();
    tx.set_param("test.dropped", "x").await.unwrap();
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let params = tx.list_params().await.unwrap();
    assert!(params.iter().all(|p| p.key != "test.dropped"));
    tx.set_param("test.kept", "y").await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let params = tx.list_params().await.unwrap();
    assert!(params.iter().any(|p| p.key == "test.kept"));
    assert!(params.iter().all(|p| p.key != "test.dropped"));
}

/// A `BEGIN` that times out (another connection holds the write lock past the 10 s busy
/// timeout) is a temporary error and leaves the direct writer usable.
#[tokio::test]
async fn a_begin_that_times_out_leaves_the_writer_usable() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = match store.begin().await {
        Ok(_) => panic!("BEGIN IMMEDIATE succeeded while another connection held the lock"),
        Err(e) => e,
    };
    assert!(err.is_temporary(), "{err}");
    other.execute_batch("ROLLBACK").unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.set_param("test.after", "x").await.unwrap();
    tx.commit().await.unwrap();
}
