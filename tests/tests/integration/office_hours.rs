//! Paying only for use, in template.yaml: the office-hours schedules and Spot capacity exist
//! only when their parameters ask for them, bad values are refused before anything is made,
//! and the schedules send the restarter the product's own event (`shared::schedule`).

use datero_shared::schedule::{Action, ScheduledEvent};
use datero_testbed::template::{Stack, Template};
use serde_json::{Value as Json, json};

const START: &str = "cron(0 8 ? * MON-FRI *)";
const STOP: &str = "cron(0 20 ? * MON-FRI *)";

fn stack_with(template: &Template, parameters: &[(&str, &str)]) -> Stack {
    Stack::placeholder(template, "teststack").with(parameters)
}

/// The office-hours schedules (the backup's has its own tests, in backup_template.rs).
fn schedules(template: &Template, stack: &Stack) -> Vec<String> {
    template
        .resources_of("AWS::Scheduler::Schedule")
        .into_iter()
        .filter(|name| name != "DateroBackupSchedule" && name != "BackupWatchSchedule")
        .filter(|name| template.exists(name, stack).unwrap())
        .collect()
}

fn group(template: &Template, stack: &Stack) -> Json {
    template
        .resolve(&template.resource("Instances")["Properties"], stack)
        .unwrap()
        .unwrap()
}

#[test]
fn schedules_and_spot_exist_only_when_their_parameters_ask_for_them() {
    let template = Template::load().unwrap();
    let plain = stack_with(&template, &[]);
    assert!(schedules(&template, &plain).is_empty());
    assert!(!template.exists("SchedulerRole", &plain).unwrap());
    let on_demand = group(&template, &plain);
    assert!(on_demand.get("MixedInstancesPolicy").is_none());
    assert!(on_demand["LaunchTemplate"]["LaunchTemplateId"].is_string());

    let hours = stack_with(
        &template,
        &[("ScheduleStart", START), ("ScheduleStop", STOP)],
    );
    assert_eq!(schedules(&template, &hours).len(), 3);
    // While paused, nothing turns the down alarm's actions back on: the restarter is not told
    // of it.
    let paused = stack_with(
        &template,
        &[
            ("ScheduleStart", START),
            ("ScheduleStop", STOP),
            ("RestartsPaused", "true"),
        ],
    );
    assert_eq!(
        schedules(&template, &paused),
        [
            "DateroStartSchedule",
            "DateroStopSchedule",
            "DownAlarmOffSchedule"
        ]
    );
    let told = |stack: &Stack| {
        template
            .resolve(
                &template.resource("TaskRestarterFunction")["Properties"]["Environment"]
                    ["Variables"]["DOWN_ALARM_NAME"],
                stack,
            )
            .unwrap()
    };
    assert!(told(&paused).is_none());
    assert!(told(&plain).is_none());
    assert!(told(&hours).is_some());

    let spot = group(&template, &stack_with(&template, &[("UseSpot", "true")]));
    assert!(spot.get("LaunchTemplate").is_none());
    let policy = &spot["MixedInstancesPolicy"];
    assert_eq!(
        policy["InstancesDistribution"],
        json!({"OnDemandBaseCapacity": "0", "OnDemandPercentageAboveBaseCapacity": "0", "SpotAllocationStrategy": "price-capacity-optimized"})
    );
    assert_eq!(
        policy["LaunchTemplate"]["Overrides"],
        json!([{"InstanceType": "t3.small"}, {"InstanceType": "t3a.small"}, {"InstanceType": "t3a.medium"}])
    );
}

#[test]
fn spot_with_the_data_on_the_instance_is_refused_naming_both_parameters() {
    let template = Template::load().unwrap();
    let refused = template
        .check_rules(&stack_with(
            &template,
            &[("UseSpot", "true"), ("DataPersistence", "instance")],
        ))
        .unwrap_err();
    assert!(
        refused.contains("UseSpot=true") && refused.contains("DataPersistence=instance"),
        "{refused}"
    );
    for persistence in ["efs", "none"] {
        template
            .check_rules(&stack_with(
                &template,
                &[("UseSpot", "true"), ("DataPersistence", persistence)],
            ))
            .unwrap();
    }
}

#[test]
fn office_hours_with_the_nightly_default_backup_are_refused_with_the_fix() {
    let template = Template::load().unwrap();
    let refused = template
        .check_rules(&stack_with(
            &template,
            &[("ScheduleStart", START), ("ScheduleStop", STOP)],
        ))
        .unwrap_err();
    assert!(
        refused.contains("BackupSchedule") && refused.contains("cron(0 12 ? * MON-FRI *)"),
        "{refused}"
    );
    for backup in ["cron(0 12 ? * MON-FRI *)", ""] {
        template
            .check_rules(&stack_with(
                &template,
                &[
                    ("ScheduleStart", START),
                    ("ScheduleStop", STOP),
                    ("BackupSchedule", backup),
                ],
            ))
            .unwrap();
    }
    // The defaults work together: always on, a backup each night.
    template.check_rules(&stack_with(&template, &[])).unwrap();
}

#[test]
fn a_bad_schedule_is_refused_before_anything_is_made() {
    let template = Template::load().unwrap();
    for bad in [
        "cron(0 8 * *)",
        "rate(1 hour)",
        "08:00",
        "cron(0 8 ? * MON-FRI *) ",
    ] {
        let stack = stack_with(&template, &[("ScheduleStart", bad), ("ScheduleStop", STOP)]);
        let refused = template.check_parameters(&stack).unwrap_err();
        assert!(refused.contains("ScheduleStart"), "{bad}: {refused}");
    }
    let stack = stack_with(&template, &[("ScheduleTimezone", "Mars Time")]);
    assert!(
        template
            .check_parameters(&stack)
            .unwrap_err()
            .contains("ScheduleTimezone")
    );
    // One without the other.
    let stack = stack_with(&template, &[("ScheduleStart", START)]);
    template.check_parameters(&stack).unwrap();
    let refused = template.check_rules(&stack).unwrap_err();
    assert!(
        refused.contains("ScheduleStart and ScheduleStop"),
        "{refused}"
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "five schedules and the role, each checked against what it must reach"
)]
fn the_schedules_send_the_restarter_the_products_event_and_mind_the_down_alarm() {
    let template = Template::load().unwrap();
    let stack = stack_with(
        &template,
        &[
            ("ScheduleStart", START),
            ("ScheduleStop", STOP),
            ("ScheduleTimezone", "Europe/Berlin"),
        ],
    );
    let target = |name: &str| {
        let properties = template
            .resolve(&template.resource(name)["Properties"], &stack)
            .unwrap()
            .unwrap();
        assert_eq!(
            properties["ScheduleExpressionTimezone"], "Europe/Berlin",
            "{name}"
        );
        properties
    };
    for (name, expression, action) in [
        ("DateroStartSchedule", START, Action::Start),
        ("DateroStopSchedule", STOP, Action::Stop),
    ] {
        let properties = target(name);
        assert_eq!(properties["ScheduleExpression"], expression);
        assert_eq!(
            properties["Target"]["Arn"],
            stack.attributes["TaskRestarterFunction.Arn"]
        );
        // What the restarter receives once Scheduler fills in its context attribute.
        let input = properties["Target"]["Input"]
            .as_str()
            .unwrap()
            .replace("<aws.scheduler.scheduled-time>", "2026-11-27T08:00:00Z");
        let event: ScheduledEvent = serde_json::from_str(&input).unwrap();
        assert_eq!(event.schedule, action);
        assert_eq!(event.scheduled_time, "2026-11-27T08:00:00Z");
    }
    let alarm_name = template
        .resolve(
            &template.resource("DateroDownAlarm")["Properties"]["AlarmName"],
            &stack,
        )
        .unwrap()
        .unwrap();
    // Scheduler only switches the down alarm's actions off at the stop; the restarter brings
    // them back after the start (shared/src/down_alarm.rs), for the alarm it is told of.
    for name in ["DownAlarmOnSchedule", "DownAlarmResetSchedule"] {
        assert!(
            template.resource(name).is_null(),
            "{name}: an action at the start itself re-alarms at once (issue 23)"
        );
    }
    let told = template
        .resolve(
            &template.resource("TaskRestarterFunction")["Properties"]["Environment"]["Variables"]
                ["DOWN_ALARM_NAME"],
            &stack,
        )
        .unwrap()
        .unwrap();
    assert_eq!(told, alarm_name);
    let properties = target("DownAlarmOffSchedule");
    assert_eq!(properties["ScheduleExpression"], STOP);
    assert_eq!(
        properties["Target"]["Arn"],
        "arn:aws:scheduler:::aws-sdk:cloudwatch:disableAlarmActions"
    );
    let input: Json =
        serde_json::from_str(properties["Target"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input["AlarmNames"][0], alarm_name);
    // The role may invoke the restarter and touch that one alarm, nothing else.
    let role = template
        .resolve(
            &template.resource("SchedulerRole")["Properties"]["Policies"],
            &stack,
        )
        .unwrap()
        .unwrap();
    let statements = role[0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        statements[0]["Resource"],
        stack.attributes["TaskRestarterFunction.Arn"]
    );
    assert!(
        statements[1]["Resource"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":alarm:{}", alarm_name.as_str().unwrap()))
    );
}
