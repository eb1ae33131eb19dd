//! The embedded S3 server seen through the real AWS SDK: basic object I/O, atomic conditional
//! PUTs, injected faults, and restart on the same port and data.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use dr_sandbox::s3::S3Server;

async fn server() -> (tempfile::TempDir, S3Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3Server::start(&dir.path().join("s3"), "drills")
        .await
        .expect("start s3");
    (dir, s3)
}

fn no_retry_client(s3: &S3Server) -> aws_sdk_s3::Client {
    let conf = s3
        .client_config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn put_get_list_round_trip() {
    let (_dir, s3) = server().await;
    let c = s3.client();
    for key in ["a/one.txt", "a/two.txt", "b/three.txt"] {
        c.put_object()
            .bucket(s3.bucket())
            .key(key)
            .body(ByteStream::from(format!("body of {key}").into_bytes()))
            .send()
            .await
            .expect("put");
    }
    let got = c
        .get_object()
        .bucket(s3.bucket())
        .key("a/two.txt")
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(&got[..], b"body of a/two.txt");

    let listed = c
        .list_objects_v2()
        .bucket(s3.bucket())
        .prefix("a/")
        .send()
        .await
        .expect("list");
    let mut keys: Vec<_> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    assert_eq!(keys, vec!["a/one.txt", "a/two.txt"]);

    let missing = c
        .head_object()
        .bucket(s3.bucket())
        .key("nope")
        .send()
        .await
        .expect_err("missing key");
    assert!(missing.into_service_error().is_not_found());
}

#[tokio::test]
async fn wrong_secret_is_rejected() {
    let (_dir, s3) = server().await;
    let conf = s3
        .client_config()
        .to_builder()
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            s3.access_key(),
            "not-the-secret",
            None,
            None,
            "test",
        ))
        .retry_config(RetryConfig::disabled())
        .build();
    let c = aws_sdk_s3::Client::from_conf(conf);
    let err = c
        .list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect_err("bad signature must fail");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_if_none_match_has_exactly_one_winner() {
    let (_dir, s3) = server().await;
    let c = s3.client();
    let bucket = s3.bucket().to_owned();
    // Several rounds: without the per-key lock s3s-fs lets 2-4 writers win most rounds.
    for round in 0..4 {
        let key = format!("locks/lock-{round:016x}.lck");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (c, bucket, key) = (c.clone(), bucket.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let r = c
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .if_none_match("*")
                    .body(ByteStream::from(format!("writer {i}").into_bytes()))
                    .send()
                    .await;
                match r {
                    Ok(_) => Ok(i),
                    Err(e) => Err(e.raw_response().map(|r| r.status().as_u16())),
                }
            }));
        }
        let mut winners = Vec::new();
        let mut refused = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(i) => winners.push(i),
                Err(Some(412)) => refused += 1,
                Err(other) => panic!("unexpected failure status {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round} winners: {winners:?}");
        assert_eq!(refused, 15);
        let body = c
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert_eq!(body, format!("writer {}", winners[0]).as_bytes());
    }
}

#[tokio::test]
async fn slow_down_fault_is_visible_without_retries_and_then_clears() {
    let (_dir, s3) = server().await;
    let c = no_retry_client(&s3);
    s3.faults().slow_down_next(2);
    for _ in 0..2 {
        let err = c
            .list_objects_v2()
            .bucket(s3.bucket())
            .send()
            .await
            .expect_err("503 expected");
        let raw = err.raw_response().expect("http response");
        assert_eq!(raw.status().as_u16(), 503);
        let meta = aws_sdk_s3::error::ProvideErrorMetadata::code(&err);
        assert_eq!(meta, Some("SlowDown"));
    }
    c.list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect("fault used up");
    assert_eq!(s3.faults().injected_count(), 2);
}

#[tokio::test]
async fn slow_down_for_a_duration_and_default_client_retries_through_one_fault() {
    let (_dir, s3) = server().await;
    let c = no_retry_client(&s3);
    s3.faults().slow_down_for(Duration::from_secs(3600));
    let err = c
        .list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect_err("in fault window");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    s3.faults().clear();
    c.list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect("cleared");

    // The default client (SDK standard retries) must absorb a single transient 503.
    s3.faults().slow_down_next(1);
    s3.client()
        .list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect("retried through one 503");
    assert_eq!(s3.faults().injected_count(), 2);
}

#[tokio::test]
async fn reset_fault_fails_the_request_without_a_response() {
    let (_dir, s3) = server().await;
    let c = no_retry_client(&s3);
    s3.faults().reset_next(1);
    let err = c
        .list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect_err("reset");
    assert!(err.raw_response().is_none(), "no HTTP response expected");
    c.list_objects_v2()
        .bucket(s3.bucket())
        .send()
        .await
        .expect("after reset");
}

#[tokio::test]
async fn restart_keeps_port_credentials_and_objects() {
    let (_dir, mut s3) = server().await;
    let endpoint = s3.endpoint();
    s3.client()
        .put_object()
        .bucket(s3.bucket())
        .key("keep/me")
        .body(ByteStream::from_static(b"survives"))
        .send()
        .await
        .expect("put");
    s3.shutdown().await;
    assert!(
        no_retry_client(&s3)
            .list_objects_v2()
            .bucket(s3.bucket())
            .send()
            .await
            .is_err(),
        "server must be down after shutdown"
    );
    s3.restart().await.expect("restart");
    assert_eq!(s3.endpoint(), endpoint);
    let got = s3
        .client()
        .get_object()
        .bucket(s3.bucket())
        .key("keep/me")
        .send()
        .await
        .expect("get after restart")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(&got[..], b"survives");
}

#[tokio::test]
async fn env_file_names_every_setting_shell_quoted() {
    let (_dir, s3) = server().await;
    let env = s3.env_file_contents();
    let lines: Vec<&str> = env.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.contains(&format!("export AWS_ACCESS_KEY_ID='{}'", s3.access_key()).as_str()));
    assert!(lines.contains(&format!("export AWS_SECRET_ACCESS_KEY='{}'", s3.secret_key()).as_str()));
    assert!(lines.contains(&"export AWS_REGION='us-east-1'"));
    assert!(lines.contains(&format!("export AWS_ENDPOINT_URL='{}'", s3.endpoint()).as_str()));
    assert!(lines.contains(&"export DR_BUCKET='drills'"));
    // Sourced, the variables reach a child process (the README's `source .sandbox/s3.env`).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s3.env");
    std::fs::write(&file, &env).expect("write");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(". \"$1\" && sh -c 'printf %s \"$DR_BUCKET $AWS_REGION\"'")
        .arg("sh")
        .arg(&file)
        .output()
        .expect("sh");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "drills us-east-1");
    assert_eq!(dr_sandbox::s3::shell_quote("it's"), "'it'\\''s'");
    assert!(!format!("{s3:?}").contains(s3.secret_key()));
}

#[tokio::test]
async fn start_on_reuses_recorded_port_and_keys() {
    let (dir, mut first) = server().await;
    let (port, ak, sk) = (
        first.addr().port(),
        first.access_key().to_owned(),
        first.secret_key().to_owned(),
    );
    first
        .client()
        .put_object()
        .bucket(first.bucket())
        .key("run.json")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .expect("put");
    first.shutdown().await;
    let second = S3Server::start_on(&dir.path().join("s3"), "drills", port, &ak, &sk)
        .await
        .expect("start_on");
    assert_eq!(second.endpoint(), format!("http://127.0.0.1:{port}"));
    let head = second
        .client()
        .head_object()
        .bucket(second.bucket())
        .key("run.json")
        .send()
        .await
        .expect("object survived");
    assert_eq!(head.content_length(), Some(2));
}

/// Longhorn's S3 driver lists with an **empty delimiter** before every delete (`DeleteObjects`
/// → `ListObjects(key, "")`, longhorn-engine@v1.9.1 vendor/…/backupstore/s3/s3_service.go):
/// releasing a lock, deleting a backup cfg, garbage-collecting blocks. s3s-fs 0.14.1 panicked on
/// it; an empty delimiter must list like no delimiter (every key under the prefix), in ListObjects
/// v1 (what Longhorn's aws-sdk-go sends) and v2.
#[tokio::test]
async fn empty_delimiter_lists_like_no_delimiter() {
    let (_dir, s3) = server().await;
    let c = no_retry_client(&s3);
    let lock = "backupstore/volumes/f4/65/v/locks/lock-adba23c3363f42ab.lck";
    let keys = [
        lock,
        "backupstore/volumes/f4/65/v/backups/backup_b1.cfg",
        "backupstore/volumes/f4/65/v/blocks/ab/cd/abcd.blk",
    ];
    for key in keys {
        c.put_object()
            .bucket(s3.bucket())
            .key(key)
            .body(ByteStream::from_static(b"{}"))
            .send()
            .await
            .expect("put");
    }
    // The exact-key prefix Longhorn uses to remove one file, then a folder prefix.
    for (prefix, want) in [
        (lock, vec![lock]),
        ("backupstore/volumes/f4/65/v/", {
            let mut all = keys.to_vec();
            all.sort();
            all
        }),
    ] {
        let v1 = c
            .list_objects()
            .bucket(s3.bucket())
            .prefix(prefix)
            .delimiter("")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjects v1 delimiter='' prefix={prefix}: {e:?}"));
        let mut got: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
        got.sort();
        assert_eq!(got, want, "v1 prefix {prefix}");
        assert!(v1.common_prefixes().is_empty(), "v1 prefix {prefix}");

        let v2 = c
            .list_objects_v2()
            .bucket(s3.bucket())
            .prefix(prefix)
            .delimiter("")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2 delimiter='' prefix={prefix}: {e:?}"));
        let mut got: Vec<&str> = v2.contents().iter().filter_map(|o| o.key()).collect();
        got.sort();
        assert_eq!(got, want, "v2 prefix {prefix}");
        assert!(v2.common_prefixes().is_empty(), "v2 prefix {prefix}");
    }
    // A real delimiter still groups.
    let grouped = c
        .list_objects()
        .bucket(s3.bucket())
        .prefix("backupstore/volumes/f4/65/v/")
        .delimiter("/")
        .send()
        .await
        .expect("list with /");
    assert_eq!(grouped.common_prefixes().len(), 3);
}
