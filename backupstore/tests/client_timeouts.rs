//! The one S3 client builder ends a stalled request by its own timeouts: a server that accepts
//! and never answers fails the request by the attempt timeout, and a body that stops midway fails
//! the read by the stall grace — not by a caller's hour-long step timeout.

use std::time::{Duration, Instant};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::SdkError;
use dr_backupstore::{build_client, ClientOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A TCP server on 127.0.0.1 that accepts, reads the request head, then writes `answer` (maybe
/// nothing) and holds the connection open without another byte. Returns its endpoint URL.
async fn stalling_server(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(answer).await;
                // Hold the socket open, silent, until the client gives up.
                let _ = sock.read(&mut buf).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            });
        }
    });
    format!("http://{addr}")
}

fn options(endpoint: &str) -> ClientOptions {
    ClientOptions::new(Some(endpoint), "us-east-1", true)
        .with_static_keys("AKIDTEST", "test-secret", "test")
        // One attempt, so the bound below is the attempt timeout itself.
        .with_retry(RetryConfig::standard().with_max_attempts(1))
}

#[tokio::test]
async fn a_server_that_never_answers_fails_by_the_attempt_timeout() {
    let endpoint = stalling_server(b"").await;
    let attempt = Duration::from_millis(800);
    let client =
        build_client(options(&endpoint).with_timeouts(Duration::from_secs(2), attempt)).await;
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        client.get_object().bucket("b").key("k").send(),
    )
    .await
    .expect("the client's own timeout ends the request, not this 30 s guard");
    let elapsed = started.elapsed();
    let err = result.expect_err("no answer is an error");
    assert!(
        matches!(err, SdkError::TimeoutError(_)),
        "a timeout error, got {err:?}"
    );
    assert!(
        elapsed >= attempt && elapsed < attempt + Duration::from_secs(3),
        "ended after {elapsed:?}, attempt timeout {attempt:?}"
    );
}

#[tokio::test]
async fn a_body_that_stops_midway_fails_by_the_stall_grace() {
    // Headers promise 1 MiB, 5 bytes follow, then nothing.
    let endpoint = stalling_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\nhello",
    )
    .await;
    let grace = Duration::from_secs(1);
    let client = build_client(
        options(&endpoint)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
            .with_stall_grace(grace),
    )
    .await;
    let started = Instant::now();
    let out = client
        .get_object()
        .bucket("b")
        .key("k")
        .send()
        .await
        .expect("the headers arrive");
    let read = tokio::time::timeout(Duration::from_secs(30), out.body.collect())
        .await
        .expect("the stall protection ends the read, not this 30 s guard");
    let elapsed = started.elapsed();
    let err = read.expect_err("a stalled body is an error");
    assert!(
        elapsed >= grace && elapsed < grace + Duration::from_secs(5),
        "ended after {elapsed:?}, stall grace {grace:?}: {err}"
    );
}

#[tokio::test]
async fn default_clients_carry_the_workspace_timeouts() {
    let client =
        dr_backupstore::s3_client(Some("http://127.0.0.1:9"), "us-east-1", true, None).await;
    let t = client.config().timeout_config().expect("a timeout config");
    assert_eq!(
        t.connect_timeout(),
        Some(dr_backupstore::client::CONNECT_TIMEOUT)
    );
    assert_eq!(
        t.operation_attempt_timeout(),
        Some(dr_backupstore::client::ATTEMPT_TIMEOUT)
    );
}
