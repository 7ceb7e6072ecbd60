//! Calls to the emulator for services this test bed has no SDK crate for (Secrets Manager,
//! CloudWatch Logs, EFS in their JSON protocols; CloudWatch in the query protocol moto serves). moto routes by the credential scope of the
//! Authorization header and does not check the signature.

use serde_json::Value;

fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// A JSON 1.1 call (`X-Amz-Target`), as Secrets Manager and CloudWatch Logs speak.
pub async fn json_target(
    endpoint: &str,
    service: &str,
    target: &str,
    body: &Value,
) -> Result<Value, String> {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .header("authorization", authorization(service))
        .body(body.to_string())
        .send()
        .await
        .map_err(|error| format!("{target}: {error}"))?;
    decode(target, response).await
}

/// A REST-JSON call, as EFS speaks.
pub async fn rest_json(
    endpoint: &str,
    service: &str,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}{path}"))
        .header("content-type", "application/json")
        .header("authorization", authorization(service))
        .body(body.to_string())
        .send()
        .await
        .map_err(|error| format!("{path}: {error}"))?;
    decode(path, response).await
}

/// A REST-JSON call of another method (`GET`, `DELETE`) without a body, as EFS speaks.
pub async fn rest_call(
    endpoint: &str,
    service: &str,
    method: reqwest::Method,
    path: &str,
) -> Result<Value, String> {
    let response = reqwest::Client::new()
        .request(method, format!("{endpoint}{path}"))
        .header("authorization", authorization(service))
        .send()
        .await
        .map_err(|error| format!("{path}: {error}"))?;
    decode(path, response).await
}

/// A query-protocol call (form-encoded `Action=...`), as moto serves CloudWatch; its XML answer.
pub async fn query(
    endpoint: &str,
    service: &str,
    params: &[(&str, &str)],
) -> Result<String, String> {
    let action = params
        .iter()
        .find(|(key, _)| *key == "Action")
        .map_or("query", |(_, value)| *value)
        .to_owned();
    let form = reqwest::Url::parse_with_params("http://form/", params)
        .map_err(|error| format!("{action}: {error}"))?
        .query()
        .unwrap_or_default()
        .to_owned();
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", authorization(service))
        .body(form)
        .send()
        .await
        .map_err(|error| format!("{action}: {error}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|error| format!("{action}: {error}"))?;
    if !status.is_success() {
        return Err(format!("{action}: HTTP {status}: {text}"));
    }
    Ok(text)
}

async fn decode(what: &str, response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|error| format!("{what}: {error}"))?;
    if !status.is_success() {
        return Err(format!("{what}: HTTP {status}: {text}"));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|error| format!("{what}: {error}"))
}
