//! The proxy in Datero's task in public mode, run for real: Caddy (Debian's package, installed
//! by scripts/setup) started by the container's own start script with the configuration and
//! variables the task definition gives it, in front of a stand-in for Datero. Requests without
//! CloudFront's origin token are refused; the rest reach Datero without the token, WebSocket
//! upgrades included. One test: Caddy listens on the task's fixed port.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datero_shared::edge;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

const TOKEN: &str = "k3Jd9XqPz0aBvW7mN2cR5tY8uE1oL4sGhF6iT0pQwZxC9vB2";

fn caddy() -> PathBuf {
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/caddy");
    if bundled.exists() {
        bundled
    } else {
        PathBuf::from("caddy")
    }
}

/// A stand-in for Datero's nginx: answers `datero` to any request and keeps each request's
/// head; a WebSocket upgrade is accepted and then echoes what it receives.
async fn datero() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                kept.lock().unwrap().push(head.clone());
                if head.to_ascii_lowercase().contains("upgrade: websocket") {
                    stream
                        .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                        .await
                        .unwrap();
                    let mut buffer = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                } else {
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndatero")
                        .await
                        .unwrap();
                }
            });
        }
    });
    (port, seen)
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The proxy's container as ECS starts it: `sh -c <start script>` with its variables.
fn proxy(token: &str, upstream_port: u16, home: &std::path::Path) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", &edge::proxy_start_script()])
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/bin:/bin",
                caddy()
                    .parent()
                    .unwrap_or(std::path::Path::new("/usr/bin"))
                    .display()
            ),
        )
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("XDG_DATA_HOME", home)
        .env(edge::ORIGIN_TOKEN_VARIABLE, token)
        .env(edge::CADDYFILE_VARIABLE, edge::CADDYFILE)
        .env(
            edge::UPSTREAM_VARIABLE,
            format!("127.0.0.1:{upstream_port}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// One HTTP/1.1 request to the proxy; the status line and the body.
async fn get(headers: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", 8080_u16)).await.unwrap();
    stream
        .write_all(
            format!("GET /api/connections HTTP/1.1\r\nHost: d1.cloudfront.net\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Caddy started as the task starts it, once it listens on the proxy's port.
async fn start_caddy(upstream: u16, home: &std::path::Path) -> tokio::process::Child {
    let mut caddy = proxy(TOKEN, upstream, home).spawn().unwrap();
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", 8080_u16)).await.is_ok() {
            return caddy;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    caddy.start_kill().ok();
    let output = caddy.wait_with_output().await.unwrap();
    panic!(
        "Caddy did not listen on 8080: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A WebSocket upgrade with the token goes through, and bytes flow both ways.
async fn websocket_passes() {
    let mut socket = TcpStream::connect(("127.0.0.1", 8080_u16)).await.unwrap();
    socket
        .write_all(
            format!(
                "GET /ws HTTP/1.1\r\nHost: d1.cloudfront.net\r\n{}: {TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                edge::ORIGIN_HEADER
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let head = read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    socket.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut echoed))
        .await
        .expect("no echo through the proxy")
        .unwrap();
    assert_eq!(&echoed, b"ping");
}

#[tokio::test]
async fn only_requests_with_the_origin_token_reach_datero_and_without_it() {
    let home = std::env::temp_dir().join(format!("datero-edge-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let (upstream, seen) = datero().await;

    // A token that is missing or short: the container exits before Caddy starts.
    let refused = proxy("short", upstream, &home).output().await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("ORIGIN_TOKEN is missing or shorter than 32"),
        "{said}"
    );

    assert!(
        TcpStream::connect(("127.0.0.1", 8080_u16)).await.is_err(),
        "something else listens on 8080, the proxy's port"
    );
    let mut caddy = start_caddy(upstream, &home).await;

    // Without the header, or with another value: 403, and Datero never sees the request.
    let (status, _) = get("").await;
    assert!(status.contains(" 403"), "{status}");
    let (status, _) = get(&format!("{}: {}x\r\n", edge::ORIGIN_HEADER, TOKEN)).await;
    assert!(status.contains(" 403"), "{status}");
    let (status, _) = get(&format!("{}: \r\n", edge::ORIGIN_HEADER)).await;
    assert!(status.contains(" 403"), "{status}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );

    // With it: Datero answers, and the token does not reach Datero.
    let (status, body) = get(&format!("{}: {TOKEN}\r\n", edge::ORIGIN_HEADER)).await;
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(body, "datero");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with("GET /api/connections HTTP/1.1"),
            "{}",
            seen[0]
        );
        assert!(
            !seen[0].contains(TOKEN),
            "the token reached Datero: {}",
            seen[0]
        );
    }

    websocket_passes().await;

    caddy.start_kill().ok();
    caddy.wait().await.ok();
    std::fs::remove_dir_all(&home).ok();
}
