//! The custom-resource protocol, driven in-process through `answer` against a real HTTP sink.
//! Every assertion is on what CloudFormation would receive at its ResponseURL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datero_shared::ResourceError;
use datero_shared::custom_resource::physical_id::is_failed_create;
use datero_shared::custom_resource::{
    CustomResourceRequest, Outcome, ResponseSender, SenderSettings, answer,
};
use datero_shared::properties::Properties;
use datero_testbed::events;
use datero_testbed::sink::{Recorded, ResponseSink};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const TYPE: &str = "Custom::Test";
const MARGIN: Duration = Duration::from_secs(8);

fn fast_sender() -> ResponseSender {
    ResponseSender::new(SenderSettings {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(500),
        max_attempts: 3,
        first_backoff: Duration::from_millis(20),
    })
}

fn lambda_event(payload: Value, deadline_in: Duration) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let deadline = SystemTime::now() + deadline_in;
    context.deadline =
        u64::try_from(deadline.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    context.request_id = "lambda-request".to_owned();
    LambdaEvent::new(payload, context)
}

/// A handler with a small schema: `Name` (required), `Count` (1..=10).
async fn schema_handler(request: CustomResourceRequest) -> Result<Outcome, ResourceError> {
    let props = Properties::strict(&request.properties, &["Name", "Count"])?;
    let name = props.required_string("Name", "a resource name")?;
    let count = props.integer("Count", 1..=10)?.unwrap_or(1);
    Ok(
        Outcome::new(format!("arn:aws:test:us-east-1:123456789012:thing/{name}"))
            .with("Count", count.to_string()),
    )
}

async fn run_schema(sink: &ResponseSink, event: Value) -> Recorded {
    answer(
        lambda_event(event, Duration::from_secs(60)),
        &schema_handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .expect("answered");
    let received = sink.received();
    assert_eq!(received.len(), 1, "exactly one answer");
    received.into_iter().next().unwrap()
}

#[tokio::test]
async fn success_carries_data_no_echo_and_the_request_ids() {
    let sink = ResponseSink::start().await;
    let handler = |_request: CustomResourceRequest| async {
        let mut outcome = Outcome::new("arn:aws:test:::thing/a")
            .with("ClusterName", "a")
            .with("Secretish", "x");
        outcome.no_echo = true;
        Ok(outcome)
    };
    let event = events::create(TYPE, json!({"Name": "a"}), &sink.response_url("ok"));
    answer(
        lambda_event(event.clone(), Duration::from_secs(60)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let put = &sink.received()[0];
    assert_eq!(put.request.method, "PUT");
    assert!(
        put.request.target.starts_with("/ok?X-Amz-Algorithm="),
        "the presigned query is kept"
    );
    assert_eq!(put.request.header("content-type"), Some(""));
    assert_eq!(
        put.request.header("content-length"),
        Some(put.request.body.len().to_string().as_str())
    );
    let body = put.json();
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], "arn:aws:test:::thing/a");
    assert_eq!(body["StackId"], event["StackId"]);
    assert_eq!(body["RequestId"], event["RequestId"]);
    assert_eq!(body["LogicalResourceId"], "Cluster");
    assert_eq!(body["NoEcho"], true);
    assert_eq!(body["Data"], json!({"ClusterName": "a", "Secretish": "x"}));
}

#[tokio::test]
async fn each_kind_of_bad_property_fails_naming_it_with_the_sentinel_id() {
    let cases = [
        (
            json!({}),
            "property Name is required: expected a resource name",
        ),
        (
            json!({"Name": {"nested": 1}}),
            "property Name is invalid: expected a string, got an object",
        ),
        (
            json!({"Name": "a", "Count": "11"}),
            "property Count is invalid: expected a whole number from 1 to 10, got \"11\"",
        ),
        (
            json!({"Name": "a", "Count": true}),
            "property Count is invalid: expected a whole number from 1 to 10, got true",
        ),
        (
            json!({"Name": "a", "Colour": "red"}),
            "unknown properties Colour; accepted: Name, Count",
        ),
    ];
    for (properties, reason) in cases {
        let sink = ResponseSink::start().await;
        let put = run_schema(
            &sink,
            events::create(TYPE, properties, &sink.response_url("bad")),
        )
        .await;
        let body = put.json();
        assert_eq!(body["Status"], "FAILED");
        assert_eq!(body["Reason"], reason);
        assert!(
            is_failed_create(body["PhysicalResourceId"].as_str().unwrap()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn native_json_and_cloudformation_strings_are_accepted_alike() {
    for count in [json!("7"), json!(7)] {
        let sink = ResponseSink::start().await;
        let put = run_schema(
            &sink,
            events::create(
                TYPE,
                json!({"Name": "a", "Count": count}),
                &sink.response_url("x"),
            ),
        )
        .await;
        assert_eq!(put.json()["Data"]["Count"], "7");
    }
}

#[tokio::test]
async fn handler_error_fails_the_update_and_keeps_its_id() {
    let sink = ResponseSink::start().await;
    let handler = |_request: CustomResourceRequest| async {
        Err::<Outcome, _>(ResourceError::Aws {
            action: "UpdateCapacityProvider",
            message: "ClientException: boom".into(),
            source: "boom".into(),
        })
    };
    let event = events::update(
        TYPE,
        "arn:aws:ecs:us-east-1:123456789012:cluster/c",
        json!({}),
        json!({}),
        &sink.response_url("u"),
    );
    answer(
        lambda_event(event, Duration::from_secs(60)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let body = sink.received()[0].json();
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "UpdateCapacityProvider failed: ClientException: boom"
    );
    assert_eq!(
        body["PhysicalResourceId"],
        "arn:aws:ecs:us-east-1:123456789012:cluster/c"
    );
}

#[tokio::test]
async fn a_panic_still_answers_failed_once() {
    let sink = ResponseSink::start().await;
    let handler = |_request: CustomResourceRequest| async {
        let empty: Vec<u8> = Vec::new();
        if empty.is_empty() {
            panic!("the handler fell over");
        }
        Ok(Outcome::new("never"))
    };
    let event = events::create(TYPE, json!({}), &sink.response_url("p"));
    answer(
        lambda_event(event, Duration::from_secs(60)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let body = received[0].json();
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("internal error in Custom::Test: the handler fell over"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_handler_outliving_the_deadline_gets_one_failed_answer_before_it() {
    let sink = ResponseSink::start().await;
    let handler = |_request: CustomResourceRequest| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(Outcome::new("too-late"))
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3);
    let event = events::create(TYPE, json!({}), &sink.response_url("d"));
    answer(
        lambda_event(event, Duration::from_secs(3)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].at < deadline,
        "answered {:?} after start",
        received[0].at - started
    );
    let body = received[0].json();
    assert_eq!(body["Status"], "FAILED");
    assert!(
        body["Reason"].as_str().unwrap().starts_with("timed out"),
        "{body}"
    );
    // The late handler is gone: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered() {
    let sink = ResponseSink::start().await;
    sink.fail_next(2);
    let put = {
        let event = events::create(TYPE, json!({"Name": "a"}), &sink.response_url("r"));
        answer(
            lambda_event(event, Duration::from_secs(60)),
            &schema_handler,
            &fast_sender(),
            MARGIN,
        )
        .await
        .unwrap();
        sink.received()
    };
    assert_eq!(put.len(), 3, "two 500s, then the 200");
    assert!(
        put.iter().all(|p| p.request.body == put[0].request.body),
        "the same answer each time"
    );
    assert_eq!(put[2].json()["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_stalled_response_url_is_given_up_within_bounds() {
    let sink = ResponseSink::start().await;
    sink.stall();
    let started = Instant::now();
    let event = events::create(TYPE, json!({"Name": "a"}), &sink.response_url("s"));
    let result = answer(
        lambda_event(event, Duration::from_secs(60)),
        &schema_handler,
        &fast_sender(),
        MARGIN,
    )
    .await;
    assert!(
        result.is_ok(),
        "the function still returns Ok so Lambda does not run it again"
    );
    assert_eq!(sink.received().len(), 3, "three bounded attempts");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_oversized_reason_and_data_are_trimmed_to_cloudformation_limits() {
    let sink = ResponseSink::start().await;
    let handler = |_request: CustomResourceRequest| async {
        Ok(Outcome::new("arn:x")
            .with("Keep", "k")
            .with("Huge", "h".repeat(6000)))
    };
    let event = events::create(TYPE, json!({}), &sink.response_url("big"));
    answer(
        lambda_event(event, Duration::from_secs(60)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let put = &sink.received()[0];
    assert!(put.request.body.len() <= 4096, "{}", put.request.body.len());
    assert_eq!(put.json()["Data"], json!({"Keep": "k"}));

    let sink = ResponseSink::start().await;
    let failing = |_request: CustomResourceRequest| async {
        Err::<Outcome, _>(ResourceError::Deadline {
            what: "x".repeat(2000),
            then: "retry",
        })
    };
    let event = events::create(TYPE, json!({}), &sink.response_url("long"));
    answer(
        lambda_event(event, Duration::from_secs(60)),
        &failing,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let reason = sink.received()[0].json()["Reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reason.chars().count(), 256);
}

#[tokio::test]
async fn delete_of_the_failed_create_sentinel_succeeds_without_touching_anything() {
    let sink = ResponseSink::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let handler = move |_request: CustomResourceRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            Err::<Outcome, _>(ResourceError::Gone {
                kind: "handler",
                name: "must not run".into(),
                then: "none",
            })
        }
    };
    // The id a failed Create answered, as CloudFormation sends it back in the rollback Delete.
    let create = events::create(TYPE, json!({}), &sink.response_url("c"));
    answer(
        lambda_event(create, Duration::from_secs(60)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let sentinel = sink.received()[0].json()["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    calls.store(0, Ordering::SeqCst);

    let delete = events::delete(
        TYPE,
        &sentinel,
        json!({"Junk": {"x": 1}}),
        &sink.response_url("del"),
    );
    answer(
        lambda_event(delete, Duration::from_secs(60)),
        &handler,
        &fast_sender(),
        MARGIN,
    )
    .await
    .unwrap();
    let body = sink.received()[1].json();
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], sentinel.as_str());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_same_request_delivered_twice_gets_the_same_answer_twice() {
    let sink = ResponseSink::start().await;
    let event = events::create(TYPE, json!({"Name": "twice"}), &sink.response_url("t"));
    for _ in 0..2 {
        answer(
            lambda_event(event.clone(), Duration::from_secs(60)),
            &schema_handler,
            &fast_sender(),
            MARGIN,
        )
        .await
        .unwrap();
    }
    let received = sink.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].json(), received[1].json());
    assert_eq!(
        received[0].json()["PhysicalResourceId"],
        "arn:aws:test:us-east-1:123456789012:thing/twice"
    );
}

#[tokio::test]
async fn an_event_that_is_not_a_custom_resource_request_is_an_error_and_sends_nothing() {
    let sink = ResponseSink::start().await;
    let result = answer(
        lambda_event(json!({"hello": "world"}), Duration::from_secs(60)),
        &schema_handler,
        &fast_sender(),
        MARGIN,
    )
    .await;
    assert!(result.is_err());
    assert!(sink.received().is_empty());
}
