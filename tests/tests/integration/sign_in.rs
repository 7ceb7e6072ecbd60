//! The sign-in CloudFront runs on every viewer request in public mode: the function code from
//! template.yaml, resolved as CloudFormation would (`!Sub` with the edge resource's hash and
//! `AllowedCidr`), run by Node.js on CloudFront's event structure ("CloudFront Functions event
//! structure", CloudFront Developer Guide).

use std::io::Write;
use std::process::{Command, Stdio};

use datero_shared::edge::credential_sha256;
use datero_testbed::seed;
use datero_testbed::template::Template;
use serde_json::{Value, json};

const PASSWORD: &str = "Zq4ttm1DbKx0b9cVvY2eP7LwJ3nR8sAa";

/// The function's code as CloudFront would hold it for a stack with `AllowedCidr` = `allowed`.
fn function_code(allowed: &str) -> String {
    let template = Template::load().unwrap();
    let mut stack = seed::test_stack(&template).with(&[("AllowedCidr", allowed)]);
    stack.attributes.insert(
        "Edge.CredentialSha256".to_owned(),
        credential_sha256(PASSWORD),
    );
    let code = template
        .resolve(
            &template.resource("SignInFunction")["Properties"]["FunctionCode"],
            &stack,
        )
        .unwrap()
        .unwrap();
    let code = code.as_str().unwrap().to_owned();
    assert!(!code.contains("${"), "an unresolved !Sub variable: {code}");
    code
}

/// Runs the function on each event with Node.js; its answers, in order.
fn run(code: &str, events: &[Value]) -> Vec<Value> {
    let dir = tempfile_dir();
    let module = dir.join("sign-in.js");
    std::fs::write(&module, format!("{code}\nmodule.exports = handler;\n")).unwrap();
    let driver = format!(
        "const handler = require({module:?}); \
         const events = JSON.parse(require('fs').readFileSync(0, 'utf8')); \
         Promise.all(events.map(handler)).then(r => process.stdout.write(JSON.stringify(r)));",
        module = module.display().to_string()
    );
    let mut node = Command::new("node")
        .args(["-e", &driver])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Node.js (`node`) runs the CloudFront Function; scripts/setup expects it on PATH");
    node.stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(events).unwrap().as_bytes())
        .unwrap();
    let output = node.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "datero-sign-in-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A viewer request from `ip`, with Basic credentials when given.
fn viewer_request(ip: &str, credentials: Option<(&str, &str)>) -> Value {
    let mut headers = json!({
        "host": {"value": "d111111abcdef8.cloudfront.net"},
        "accept": {"value": "text/html"}
    });
    if let Some((user, password)) = credentials {
        let encoded = base64(format!("{user}:{password}").as_bytes());
        headers["authorization"] = json!({"value": format!("Basic {encoded}")});
    }
    json!({
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": ip},
        "request": {
            "method": "GET",
            "uri": "/api/connections",
            "querystring": {},
            "headers": headers,
            "cookies": {}
        }
    })
}

/// A viewer request whose `Authorization` header is `value`, as a browser or a script sent it.
fn with_authorization(value: &str) -> Value {
    let mut request = viewer_request("198.51.100.7", None);
    request["request"]["headers"]["authorization"] = json!({ "value": value });
    request
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn assert_challenged(answer: &Value) {
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert_eq!(
        answer["headers"]["www-authenticate"]["value"], "Basic realm=\"Datero\", charset=\"UTF-8\"",
        "{answer}"
    );
}

#[test]
fn only_the_right_password_passes_and_it_never_leaves_cloudfront() {
    let code = function_code("");
    assert!(
        !code.contains(PASSWORD),
        "the password itself is in the code"
    );
    let answers = run(
        &code,
        &[
            viewer_request("198.51.100.7", None),
            viewer_request("198.51.100.7", Some(("datero", "wrong-password"))),
            viewer_request("198.51.100.7", Some(("admin", PASSWORD))),
            with_authorization("Basic !!not-base64!!"),
            with_authorization("Basic "),
            with_authorization(&format!("Bearer {PASSWORD}")),
            with_authorization(&format!("Basic {}", base64(PASSWORD.as_bytes()))),
            viewer_request("198.51.100.7", Some(("datero", PASSWORD))),
            viewer_request("2001:db8::1", Some(("datero", PASSWORD))),
        ],
    );
    // No header, a wrong password, another user, and malformed headers: the challenge.
    for challenged in &answers[..7] {
        assert_challenged(challenged);
    }
    for passed in &answers[7..] {
        // The request goes on to the origin, without the credentials, everything else kept.
        assert_eq!(passed["uri"], "/api/connections", "{passed}");
        assert!(passed["headers"].get("authorization").is_none(), "{passed}");
        assert_eq!(passed["headers"]["accept"]["value"], "text/html");
    }
}

#[test]
fn with_allowed_cidr_other_addresses_are_refused_even_with_the_password() {
    let code = function_code("203.0.113.0/24");
    let answers = run(
        &code,
        &[
            viewer_request("203.0.113.77", Some(("datero", PASSWORD))),
            viewer_request("203.0.114.1", Some(("datero", PASSWORD))),
            viewer_request("2001:db8::1", Some(("datero", PASSWORD))),
            viewer_request("203.0.113.200", None),
        ],
    );
    assert_eq!(answers[0]["uri"], "/api/connections", "{}", answers[0]);
    assert_eq!(answers[1]["statusCode"], 403, "{}", answers[1]);
    assert_eq!(answers[2]["statusCode"], 403, "{}", answers[2]);
    assert_challenged(&answers[3]);
    // A single address works as a /32.
    let single = run(
        &function_code("203.0.113.9/32"),
        &[
            viewer_request("203.0.113.9", Some(("datero", PASSWORD))),
            viewer_request("203.0.113.8", Some(("datero", PASSWORD))),
        ],
    );
    assert_eq!(single[0]["uri"], "/api/connections", "{}", single[0]);
    assert_eq!(single[1]["statusCode"], 403, "{}", single[1]);
}
