//! The alarms in template.yaml against what the stack really produces: every alarm watches a
//! metric that one of the functions writes (their EMF lines, `datero_shared::metrics`) or that
//! an AWS service publishes for a resource of this stack, and every alarm notifies the topic.

use datero_shared::metrics;
use datero_shared::restart_policy::MAX_DELAY;
use datero_testbed::template::{Stack, Template};
use serde_json::json;
use serde_norway::Value as Yaml;

/// AWS metrics the alarms may use: namespace, metric, its dimension, and the resource type the
/// dimension's value must name (ECS, SQS and Lambda guides, their CloudWatch metrics pages).
const AWS_METRICS: &[(&str, &str, &str, &str)] = &[
    (
        "AWS/ECS",
        "MemoryReservation",
        "ClusterName",
        "Custom::DateroCluster",
    ),
    (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        "AWS::SQS::Queue",
    ),
    (
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        "AWS::Serverless::Function",
    ),
];

/// The resource a `!Ref X`, `!GetAtt X.Attr` or `!If [c, <that>, ...]` names.
fn named_resource(value: &Yaml) -> Option<String> {
    let Yaml::Tagged(tagged) = value else {
        return None;
    };
    let argument = &tagged.value;
    match tagged.tag.to_string().as_str() {
        "!Ref" => argument.as_str().map(str::to_owned),
        "!GetAtt" => argument
            .as_str()
            .and_then(|path| path.split('.').next())
            .or_else(|| argument[0].as_str())
            .map(str::to_owned),
        _ => None,
    }
}

/// One metric an alarm reads: namespace, metric name, `(dimension, value)` pairs.
type Watched = (String, String, Vec<(String, Yaml)>);

/// Every metric an alarm reads.
fn watched(alarm: &Yaml) -> Vec<Watched> {
    let read = |metric: &Yaml| {
        let dimensions = metric["Dimensions"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap_or_default().to_owned(),
                    d["Value"].clone(),
                )
            })
            .collect();
        (
            metric["Namespace"].as_str().unwrap_or_default().to_owned(),
            metric["MetricName"].as_str().unwrap_or_default().to_owned(),
            dimensions,
        )
    };
    let properties = &alarm["Properties"];
    if properties["MetricName"].is_string() {
        return vec![read(properties)];
    }
    let mut found = Vec::new();
    for query in properties["Metrics"].as_sequence().into_iter().flatten() {
        // A query inside !If [condition, query, !Ref AWS::NoValue].
        let query = match query {
            Yaml::Tagged(tagged) if tagged.tag == "!If" => &tagged.value[1],
            plain => plain,
        };
        if query["MetricStat"].is_mapping() {
            found.push(read(&query["MetricStat"]["Metric"]));
        }
    }
    found
}

fn alarms(template: &Template) -> Vec<String> {
    template.resources_of("AWS::CloudWatch::Alarm")
}

#[test]
fn every_alarm_watches_a_metric_that_something_in_the_stack_produces() {
    let template = Template::load().unwrap();
    let alarms = alarms(&template);
    assert_eq!(
        alarms.len(),
        5,
        "down, failures kept, crash loop, function errors, backup failed"
    );
    for name in &alarms {
        let metrics = watched(template.resource(name));
        assert!(!metrics.is_empty(), "{name} watches no metric");
        for (namespace, metric, dimensions) in metrics {
            if namespace == metrics::NAMESPACE {
                // A metric the functions' EMF lines carry, with the same dimension set.
                let (_, published) = metrics::PUBLISHED
                    .iter()
                    .find(|(published, _)| *published == metric)
                    .unwrap_or_else(|| panic!("{name}: no function writes {metric}"));
                let names: Vec<&str> = dimensions.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, *published, "{name}: dimensions of {metric}");
                // The cluster dimension names this stack's cluster.
                let (_, value) = &dimensions[0];
                assert_eq!(named_resource(value).as_deref(), Some("Cluster"), "{name}");
                continue;
            }
            let (_, _, dimension, kind) = AWS_METRICS
                .iter()
                .find(|(ns, m, _, _)| *ns == namespace && *m == metric)
                .unwrap_or_else(|| panic!("{name}: {namespace}/{metric} is not a known metric"));
            assert_eq!(dimensions.len(), 1, "{name}: {metric} has one dimension");
            assert_eq!(dimensions[0].0, *dimension, "{name}");
            let resource = named_resource(&dimensions[0].1)
                .unwrap_or_else(|| panic!("{name}: {dimension} must name a resource of the stack"));
            assert_eq!(
                template.resource(&resource)["Type"].as_str(),
                Some(*kind),
                "{name}: {dimension} names {resource}"
            );
        }
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one contract checked for every alarm in two stacks, then the topic policy"
)]
fn every_alarm_notifies_the_topic_that_only_this_stacks_alarms_may_publish_to() {
    let template = Template::load().unwrap();
    let always_on = stack_with(&template, &[]);
    let office_hours = stack_with(
        &template,
        &[
            ("ScheduleStart", "cron(0 8 ? * MON-FRI *)"),
            ("ScheduleStop", "cron(0 20 ? * MON-FRI *)"),
        ],
    );
    let topic = json!([always_on.refs["AlertTopic"]]);
    for name in alarms(&template) {
        let properties = &template.resource(&name)["Properties"];
        for (stack, actions) in [
            (&always_on, "AlarmActions"),
            (&always_on, "OKActions"),
            (&office_hours, "AlarmActions"),
            (&office_hours, "OKActions"),
        ] {
            let resolved = template.resolve(&properties[actions], stack).unwrap();
            // With office hours too the down alarm announces a recovery: Datero coming up
            // each morning returns it to OK while its actions are off (issue 23).
            // A failed backup's alarm clears by itself an hour later, which proves nothing:
            // no OK message.
            let silent_ok = name == "BackupFailedAlarm";
            if actions == "OKActions" && silent_ok {
                assert!(
                    matches!(resolved, None | Some(serde_json::Value::Null)),
                    "{name} {actions}"
                );
            } else {
                assert_eq!(resolved.as_ref(), Some(&topic), "{name} {actions}");
            }
        }
        // Its name starts with the stack's name: what the topic policy lets publish.
        let alarm_name = properties["AlarmName"].clone();
        let Yaml::Tagged(sub) = alarm_name else {
            panic!("{name}: AlarmName is a !Sub")
        };
        assert!(
            sub.value
                .as_str()
                .unwrap()
                .starts_with("${AWS::StackName}-"),
            "{name}"
        );
        assert!(
            properties["AlarmDescription"]
                .as_str()
                .is_some_and(|text| text.contains("Runbook: README")),
            "{name} points to its runbook"
        );
    }
    let policy = &template.resource("AlertTopicPolicy")["Properties"]["PolicyDocument"];
    let publish = &policy["Statement"][0];
    assert_eq!(
        publish["Principal"]["Service"].as_str(),
        Some("cloudwatch.amazonaws.com")
    );
    let Yaml::Tagged(source) = &publish["Condition"]["ArnLike"]["aws:SourceArn"] else {
        panic!("the publish grant is limited to the stack's alarms")
    };
    assert!(
        source
            .value
            .as_str()
            .unwrap()
            .ends_with(":alarm:${AWS::StackName}-*")
    );
    assert_eq!(
        named_resource(&template.yaml()["Outputs"]["AlertTopicArn"]["Value"]).as_deref(),
        Some("AlertTopic")
    );
}

fn stack_with(template: &Template, parameters: &[(&str, &str)]) -> Stack {
    Stack::placeholder(template, "teststack").with(parameters)
}

#[test]
fn a_pause_is_not_an_outage_the_down_alarm_is_silent_while_restarts_are_paused() {
    let template = Template::load().unwrap();
    let enabled = |paused: &str| {
        let stack = stack_with(&template, &[("RestartsPaused", paused)]);
        template
            .resolve(
                &template.resource("DateroDownAlarm")["Properties"]["ActionsEnabled"],
                &stack,
            )
            .unwrap()
    };
    assert_eq!(enabled("true"), Some(json!("false")));
    assert_eq!(enabled("false"), Some(json!("true")));
    // No data is down: ECS publishes reservation only while a task runs.
    let down = &template.resource("DateroDownAlarm")["Properties"];
    assert_eq!(down["TreatMissingData"].as_str(), Some("breaching"));
    assert_eq!(
        down["ComparisonOperator"].as_str(),
        Some("LessThanThreshold")
    );
}

#[test]
fn the_crash_loop_alarm_fires_at_the_restarters_backoff_cap() {
    let template = Template::load().unwrap();
    let alarm = &template.resource("CrashLoopAlarm")["Properties"];
    assert_eq!(alarm["MetricName"].as_str(), Some(metrics::RESTART_DELAY));
    assert_eq!(alarm["Threshold"].as_u64(), Some(MAX_DELAY.as_secs()));
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
    // A period longer than one cycle at the cap (the delay plus a quick failure).
    let period = alarm["Period"].as_u64().unwrap();
    assert!(
        period >= MAX_DELAY.as_secs() + datero_shared::restart_policy::QUICK_FAILURE.as_secs(),
        "{period}"
    );
}

#[test]
fn the_function_errors_alarm_covers_every_function_of_the_stack() {
    let template = Template::load().unwrap();
    let watched: Vec<String> = watched(template.resource("FunctionErrorsAlarm"))
        .iter()
        .filter_map(|(_, _, dimensions)| named_resource(&dimensions[0].1))
        .collect();
    let mut functions = template.resources_of("AWS::Serverless::Function");
    functions.sort();
    let mut watched_sorted = watched.clone();
    watched_sorted.sort();
    assert_eq!(watched_sorted, functions);
    // The Elastic IP keeper exists only in public mode, and so does its query.
    for (access, count) in [("true", 5), ("false", 4)] {
        let stack = stack_with(
            &template,
            &[("PublicAccess", access), ("AllowedCidr", "203.0.113.0/24")],
        );
        let resolved = template
            .resolve(
                &template.resource("FunctionErrorsAlarm")["Properties"]["Metrics"],
                &stack,
            )
            .unwrap()
            .unwrap();
        assert_eq!(resolved.as_array().unwrap().len(), count + 1, "{access}");
    }
}

#[test]
fn an_alert_email_subscribes_only_when_given() {
    let template = Template::load().unwrap();
    let subscription = template.resource("AlertEmailSubscription");
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlertEmail"));
    for (email, subscribed) in [("", false), ("ops@example.com", true)] {
        let stack = stack_with(&template, &[("AlertEmail", email)]);
        assert_eq!(
            template.exists("AlertEmailSubscription", &stack).unwrap(),
            subscribed
        );
        template.check_parameters(&stack).unwrap();
    }
    let stack = stack_with(&template, &[("AlertEmail", "not an address")]);
    let refused = template.check_parameters(&stack).unwrap_err();
    assert!(refused.contains("AlertEmail"), "{refused}");
}
