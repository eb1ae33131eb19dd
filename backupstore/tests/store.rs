//! S3 access details: paginated listings and typed "not found".

mod common;

use common::TestS3;
use futures::stream::{self, StreamExt, TryStreamExt};

#[tokio::test]
async fn listings_follow_continuation_past_one_page() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    // More keys than one ListObjectsV2 page (1000) holds.
    let n = 1005usize;
    stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move { store.put_object(&format!("many/k{i:05}"), vec![1]).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("puts");
    let listed = store.list_objects("many/").await.expect("list");
    assert_eq!(listed.len(), n);
    assert!(listed.iter().all(|o| o.size == 1));
    let prefixes = store.list_prefixes("").await.expect("prefixes");
    assert_eq!(prefixes, vec!["many/".to_string()]);
}

#[tokio::test]
async fn absent_cfgs_and_blocks_are_none_not_errors() {
    let s3 = TestS3::start().await;
    let store = s3.store();
    assert_eq!(store.get_volume_cfg("vol-1").await.expect("get"), None);
    assert_eq!(
        store.get_backup_cfg("vol-1", "b-1").await.expect("get"),
        None
    );
    let cs = dr_backupstore::checksum(b"x");
    assert!(!store.block_exists("vol-1", &cs).await.expect("head"));
    assert_eq!(store.get_block("vol-1", &cs).await.expect("get"), None);
    assert!(store.list_backups("vol-1").await.expect("list").is_empty());
    assert!(store.list_blocks("vol-1").await.expect("list").is_empty());
    let err = store
        .get_volume_cfg("bad/name")
        .await
        .expect_err("invalid name");
    assert!(err.to_string().contains("bad/name"), "{err}");
}

#[tokio::test]
async fn errors_name_bucket_and_key() {
    let s3 = TestS3::start().await;
    let other =
        dr_backupstore::BackupStore::new(s3.client.clone(), "no-such-bucket", "backupstore/");
    // s3s-fs checks the bucket on listings (not on every PUT).
    let err = other
        .list_objects("backupstore/x")
        .await
        .expect_err("bucket does not exist");
    let msg = err.to_string();
    assert!(msg.contains("s3://no-such-bucket/backupstore/x"), "{msg}");
    assert!(!msg.contains("test-secret-key"), "{msg}");
}
